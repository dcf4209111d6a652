namespace Engine.Client.Tests.Packaging;

/// <summary>Rules of the public surface that a reader of one type would not see.</summary>
public sealed class PublicSurfaceTests
{
    private static Type[] PublicTypes() =>
        typeof(WorkerClient).Assembly.GetExportedTypes();

    [Test]
    public void Every_public_worker_exception_derives_from_WorkerException()
    {
        var exceptions = PublicTypes().Where(t => typeof(Exception).IsAssignableFrom(t) && t.Name.StartsWith("Worker", StringComparison.Ordinal)).ToArray();

        Assert.That(exceptions, Is.Not.Empty);
        Assert.That(exceptions.Where(t => t != typeof(WorkerException) && !t.IsSubclassOf(typeof(WorkerException))).Select(t => t.Name), Is.Empty,
            "catch (WorkerException) must catch every failure that involves a worker");
    }

    [Test]
    public void Options_expose_no_default_or_limit_as_a_constant_callers_would_compile_in()
    {
        var constants = PublicTypes()
            .Where(t => t.Name.EndsWith("Options", StringComparison.Ordinal))
            .SelectMany(t => t.GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(m => m.Name.StartsWith("Default", StringComparison.Ordinal) || m.Name.StartsWith("Min", StringComparison.Ordinal) || m.Name.StartsWith("Max", StringComparison.Ordinal))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}");

        Assert.That(constants, Is.Empty, "defaults are documented properties, not constants or static fields");
    }
}

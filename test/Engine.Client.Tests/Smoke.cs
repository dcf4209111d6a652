namespace Engine.Client.Tests;

public class Smoke
{
    [Test]
    public void Parses_a_unix_address() => Assert.That(WorkerAddress.Parse("unix:///tmp/x.sock").SocketPath, Is.EqualTo("/tmp/x.sock"));
}

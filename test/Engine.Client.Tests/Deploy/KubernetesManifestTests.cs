using System.Globalization;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Client.Tests.Workers;
using k8s;
using k8s.Models;

namespace Engine.Client.Tests.Deploy;

/// <summary>
/// deploy/kubernetes/ checked offline: every manifest read strictly against the Kubernetes API's
/// models (an unknown or misspelt field, or a value of the wrong type, fails), their required
/// fields, the wiring between Service, Deployment and probes, the image definition, and the
/// worker's own arguments and readiness probe run for real.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static string Directory => Path.Combine(Specs.RepositoryRoot(), "deploy", "kubernetes");

    private static string WorkersFile => Path.Combine(Directory, "udf-workers.yaml");

    public static IEnumerable<string> Manifests() =>
        System.IO.Directory.EnumerateFiles(Path.Combine(Specs.RepositoryRoot(), "deploy", "kubernetes"), "*.yaml", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(Specs.RepositoryRoot(), path))
            .Order(StringComparer.Ordinal);

    [TestCaseSource(nameof(Manifests))]
    public void Every_manifest_reads_strictly_as_kubernetes_objects_with_their_required_fields(string relativePath)
    {
        var objects = Load(File.ReadAllText(Path.Combine(Specs.RepositoryRoot(), relativePath)));

        Assert.That(objects, Is.Not.Empty);
        foreach (var item in objects)
        {
            Assert.That(item, Is.InstanceOf<IKubernetesObject<V1ObjectMeta>>(), $"{relativePath}: an object of an unknown apiVersion/kind ({item?.GetType()})");
            var resource = (IKubernetesObject<V1ObjectMeta>)item;
            Assert.That(resource.Metadata?.Name, Is.Not.Null.And.Not.Empty, $"{relativePath}: {resource.Kind} without metadata.name");
            RequireFields(item, relativePath);
        }
    }

    [Test]
    public void The_strict_reading_rejects_an_unknown_field_and_a_value_of_the_wrong_type()
    {
        var text = File.ReadAllText(WorkersFile);
        var misspelt = text.Replace("  replicas: 4", "  replica: 4", StringComparison.Ordinal);
        var wrongType = text.Replace("  replicas: 4", "  replicas: four", StringComparison.Ordinal);

        Assert.That(misspelt, Is.Not.EqualTo(text));
        Assert.That(() => Load(misspelt), Throws.Exception.With.Message.Contain("replica"));
        Assert.That(() => Load(wrongType), Throws.Exception);
    }

    [Test]
    public void The_service_is_headless_and_selects_the_deployments_pods_on_the_grpc_port()
    {
        var (service, deployment) = Workers();
        var pod = deployment.Spec.Template;
        var container = pod.Spec.Containers.Single();

        Assert.That(service.Spec.ClusterIP, Is.EqualTo("None"), "headless: one DNS record per ready pod");
        Assert.That(service.Spec.PublishNotReadyAddresses, Is.Not.True);
        Assert.That(service.Spec.Selector, Is.SubsetOf(pod.Metadata.Labels));
        Assert.That(deployment.Spec.Selector.MatchLabels, Is.SubsetOf(pod.Metadata.Labels));
        var port = service.Spec.Ports.Single();
        Assert.That(port.Port, Is.EqualTo(7070));
        var containerPort = container.Ports.Single(p => p.Name == port.TargetPort.Value);
        Assert.That(containerPort.ContainerPort, Is.EqualTo(7070));
        Assert.That(Argument(container.Args, "--connection"), Is.EqualTo("7070"));
        Assert.That(Argument(container.Args, "--listen-address"), Is.EqualTo("0.0.0.0"), "a pod is reached on its own IP, not loopback");
        Assert.That(container.Env.Single(e => e.Name == "POD_NAME").ValueFrom.FieldRef.FieldPath, Is.EqualTo("metadata.name"));
        Assert.That(Argument(container.Args, "--id"), Is.EqualTo("$(POD_NAME)"));
    }

    [Test]
    public void The_worker_runs_as_non_root_with_a_read_only_root_and_its_probes_target_its_port()
    {
        var (_, deployment) = Workers();
        var pod = deployment.Spec.Template.Spec;
        var container = pod.Containers.Single();

        Assert.That(pod.SecurityContext.RunAsNonRoot, Is.True);
        Assert.That(pod.SecurityContext.RunAsUser, Is.Not.Null.And.Not.EqualTo(0));
        Assert.That(container.SecurityContext.AllowPrivilegeEscalation, Is.False);
        Assert.That(container.SecurityContext.ReadOnlyRootFilesystem, Is.True);
        Assert.That(container.ReadinessProbe.Exec.Command.Take(4), Is.EqualTo(new[] { "engine-client", "heartbeat", "--worker", "http://127.0.0.1:7070" }));
        Assert.That(container.LivenessProbe.TcpSocket.Port.Value, Is.EqualTo("grpc"));
        Assert.That(deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value, Is.EqualTo("0"));
    }

    [Test]
    public void The_image_builds_the_worker_and_the_cli_from_this_repository_and_runs_as_non_root()
    {
        var lines = File.ReadAllLines(Path.Combine(Directory, "Dockerfile")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var text = string.Join("\n", lines);

        Assert.That(lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(text, Does.Contain("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build"));
        Assert.That(text, Does.Contain("FROM mcr.microsoft.com/dotnet/aspnet:10.0"));
        foreach (var project in new[] { "src/Engine.ReferenceWorker", "src/Engine.Client.Cli" })
        {
            Assert.That(text, Does.Contain("dotnet publish " + project));
            Assert.That(System.IO.Directory.Exists(Path.Combine(Specs.RepositoryRoot(), project)), project);
        }

        var user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.That(user, Is.EqualTo("USER $APP_UID"), "the last USER is the images' unprivileged user");
        Assert.That(lines.IndexOf(user), Is.GreaterThan(lines.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal))));
    }

    [Test]
    public async Task The_deployments_worker_arguments_start_the_reference_worker_and_its_readiness_probe_passes()
    {
        var (_, deployment) = Workers();
        var container = deployment.Spec.Template.Spec.Containers.Single();
        var others = new List<string>();
        for (var i = 0; i < container.Args.Count; i++)
        {
            if (container.Args[i] is "--id" or "--connection")
            {
                i++;
                continue;
            }

            others.Add(container.Args[i]);
        }

        // The worker ignores flags it does not know; rejecting them here keeps a misspelt flag of the
        // manifest from passing.
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = true, ExtraArguments = [.. others, "--fault", "reject-unknown-flags"] });
        var port = worker.Port!.Value.ToString(CultureInfo.InvariantCulture);
        var probe = container.ReadinessProbe.Exec.Command.Skip(1).Select(a => a.Replace("7070", port, StringComparison.Ordinal)).ToArray();

        var result = await CliProcess.RunAsync(probe);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
    }

    [Test]
    public void The_kubernetes_guide_names_the_services_dns_name_and_port()
    {
        var (service, _) = Workers();
        var guide = File.ReadAllText(Path.Combine(Specs.RepositoryRoot(), "docs", "kubernetes.md"));

        Assert.That(guide, Does.Contain($"dns:///{service.Metadata.Name}.<namespace>.svc.cluster.local:{service.Spec.Ports.Single().Port}"));
        Assert.That(guide, Does.Contain("deploy/kubernetes/udf-workers.yaml"));
    }

    private static (V1Service Service, V1Deployment Deployment) Workers()
    {
        var objects = Load(File.ReadAllText(WorkersFile));
        return (objects.OfType<V1Service>().Single(), objects.OfType<V1Deployment>().Single());
    }

    private static List<object> Load(string text) => KubernetesYaml.LoadAllFromString(text, typeMap: null, strict: true);

    private static string? Argument(IList<string> args, string name)
    {
        var index = args.IndexOf(name);
        return index >= 0 && index + 1 < args.Count ? args[index + 1] : null;
    }

    /// <summary>
    /// The fields the API server requires of the kinds used here (the models do not check them):
    /// a Deployment's selector, template and containers with a name and an image, a Service's
    /// ports, a Job's template, a PersistentVolumeClaim's access modes and storage request.
    /// </summary>
    private static void RequireFields(object item, string file)
    {
        switch (item)
        {
            case V1Deployment deployment:
                Assert.That(deployment.Spec?.Selector, Is.Not.Null, $"{file}: Deployment.spec.selector");
                RequirePod(deployment.Spec!.Template, file);
                break;
            case V1Job job:
                RequirePod(job.Spec?.Template, file);
                break;
            case V1PersistentVolumeClaim claim:
                Assert.That(claim.Spec?.AccessModes, Is.Not.Null.And.Not.Empty, $"{file}: PersistentVolumeClaim.spec.accessModes");
                Assert.That(claim.Spec!.Resources?.Requests?.ContainsKey("storage"), Is.True, $"{file}: PersistentVolumeClaim.spec.resources.requests.storage");
                break;
            case V1Service service:
                Assert.That(service.Spec?.Ports, Is.Not.Null.And.Not.Empty, $"{file}: Service.spec.ports");
                Assert.That(service.Spec!.Ports.Select(p => p.Port), Is.All.InRange(1, 65535), $"{file}: Service port");
                break;
            default:
                Assert.Fail($"{file}: {item.GetType().Name} is not a kind this check knows; add its required fields here.");
                break;
        }
    }

    private static void RequirePod(V1PodTemplateSpec? template, string file)
    {
        Assert.That(template?.Spec?.Containers, Is.Not.Null.And.Not.Empty, $"{file}: a pod template with containers");
        foreach (var container in template!.Spec.Containers)
        {
            Assert.That(container.Name, Is.Not.Null.And.Not.Empty, $"{file}: container name");
            Assert.That(container.Image, Is.Not.Null.And.Not.Empty, $"{file}: container {container.Name} image");
        }
    }
}

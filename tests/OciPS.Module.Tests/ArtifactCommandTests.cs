using System.Management.Automation;
using System.Net.Sockets;
using System.Text.Json;
using OciPS.Core.Model;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class ArtifactCommandTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _output = new("artifact-cmd");

    public void Dispose() => _output.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void Publish_writes_an_artifact_that_skopeo_reads_and_Save_restores_its_files()
    {
        using var session = Session();
        var layout = _output.Combine("layout");
        var result = session.Run("Publish-OciArtifact ./artifact/pack.yaml \"oci:$($args[0]):v1\" -PassThru", layout);
        result.ThrowIfFailed();
        var published = Assert.Single(result.Output);
        Assert.Equal("OciPS.Core.Artifacts.PublishedArtifact", published.BaseObject.GetType().FullName);
        Assert.Equal("v1", published.Properties["Tag"].Value);
        Assert.Equal(Digest.Compute(Skopeo.InspectRaw($"oci:{layout}:v1")).ToString(), published.Properties["Digest"].Value.ToString());

        using var json = JsonDocument.Parse(Skopeo.InspectRaw($"oci:{layout}:v1"));
        Assert.Equal("application/vnd.example.config.bundle", json.RootElement.GetProperty("artifactType").GetString());
        Assert.Equal("1.0.0", json.RootElement.GetProperty("annotations").GetProperty("org.opencontainers.image.version").GetString());
        Assert.Equal("application/vnd.example.schema.v1+json", json.RootElement.GetProperty("config").GetProperty("mediaType").GetString());

        Assert.Contains(session.Host.Progress, p => p.RecordType == ProgressRecordType.Completed && p.Activity.StartsWith("Publishing", StringComparison.Ordinal));

        var pulled = _output.Combine("pulled");
        var saved = session.Run("Save-OciArtifact \"oci:$($args[0]):v1\" -Path $args[1] -PassThru", layout, pulled);
        saved.ThrowIfFailed();
        Assert.Equal(["config.tmpl", "data"], saved.Output.Select(o => ((FileSystemInfo)o.BaseObject).Name));
        Assert.Equal(File.ReadAllBytes(Path.Combine(images.WorkingDirectory, "artifact/config.tmpl")), File.ReadAllBytes(Path.Combine(pulled, "config.tmpl")));
        Assert.Equal("MIT\n", File.ReadAllText(Path.Combine(pulled, "data/licenses/MIT.txt")));
    }

    [Fact]
    public void Annotation_overrides_and_the_environment_reach_the_manifest_and_the_same_input_gives_the_same_digest()
    {
        using var session = Session();
        var layout = _output.Combine("layout");
        _output.WriteFile("env.yaml", "annotations:\n  channel: ${OCIPS_ARTIFACT_TEST_CHANNEL}\n  version: '1'\nitems:\n  - from: env.yaml\n");
        var first = session.Run("$env:OCIPS_ARTIFACT_TEST_CHANNEL = 'beta'; (Publish-OciArtifact $args[1] \"oci:$($args[0]):a\" -PassThru -Annotation @{ extra = 'yes'; version = '2' }).Digest", layout, _output.Combine("env.yaml"));
        first.ThrowIfFailed();
        var second = session.Run("(Publish-OciArtifact $args[1] \"oci:$($args[0]):b\" -PassThru -Annotation @{ extra = 'yes'; version = '2' }).Digest", layout, _output.Combine("env.yaml"));
        Assert.Equal(first.Output[0].ToString(), second.Output[0].ToString());

        using var json = JsonDocument.Parse(Skopeo.InspectRaw($"oci:{layout}:a"));
        Assert.Equal("beta", json.RootElement.GetProperty("annotations").GetProperty("channel").GetString());
        Assert.Equal("2", json.RootElement.GetProperty("annotations").GetProperty("version").GetString());
        Assert.Equal("yes", json.RootElement.GetProperty("annotations").GetProperty("extra").GetString());
        Environment.SetEnvironmentVariable("OCIPS_ARTIFACT_TEST_CHANNEL", null);
    }

    [Fact]
    public void WhatIf_prints_the_manifest_and_writes_nothing()
    {
        using var session = Session();
        var layout = _output.Combine("whatif");
        var result = session.Run("Publish-OciArtifact ./artifact/pack.yaml \"oci:$($args[0]):v1\" -WhatIf", layout);
        result.ThrowIfFailed();
        Assert.False(Directory.Exists(layout));
        Assert.Contains("\"artifactType\":\"application/vnd.example.config.bundle\"", session.Host.Text, StringComparison.Ordinal);
        Assert.Contains("What if:", session.Host.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_pack_file_is_one_error_naming_every_problem_with_its_line()
    {
        using var session = Session();
        var pack = _output.WriteFile("bad.yaml", "type: not-a-type\nitems:\n  - from: ftp://x/y\n  - from: missing.bin\n    platform: linux//arm64\n");
        var result = session.Run("Publish-OciArtifact $args[0] \"oci:$($args[1])\"", pack, _output.Combine("never"));
        var error = Assert.Single(result.Errors);
        Assert.Equal("PackFileInvalid,OciPS.Commands.PublishOciArtifactCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains("bad.yaml:1:7:", error.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("bad.yaml:3:11:", error.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("bad.yaml:4:11:", error.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("bad.yaml:5:15:", error.Exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_output.Combine("never")));
    }

    [Fact]
    public void Save_refuses_to_overwrite_without_Force_and_reports_a_bad_platform()
    {
        using var session = Session();
        var layout = _output.Combine("layout");
        session.Run("Publish-OciArtifact ./artifact/multi.yaml \"oci:$($args[0]):tools\"", layout).ThrowIfFailed();
        var target = _output.Combine("tools");
        session.Run("Save-OciArtifact \"oci:$($args[0]):tools\" -Path $args[1] -Platform linux/arm64", layout, target).ThrowIfFailed();
        Assert.Equal("arm64 tool\n", File.ReadAllText(Path.Combine(target, "tool")));

        var again = session.Run("Save-OciArtifact \"oci:$($args[0]):tools\" -Path $args[1] -Platform linux/arm64", layout, target);
        Assert.Equal("ArtifactFileExists,OciPS.Commands.SaveOciArtifactCommand", Assert.Single(again.Errors).FullyQualifiedErrorId);
        var missing = session.Run("Save-OciArtifact \"oci:$($args[0]):tools\" -Path $args[1] -Platform linux/s390x", layout, _output.Combine("none"));
        Assert.Equal("PlatformNotFound,OciPS.Commands.SaveOciArtifactCommand", Assert.Single(missing.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void Registry_destinations_are_a_clear_error_until_the_registry_client_exists()
    {
        using var session = Session();
        var result = session.Run("Publish-OciArtifact ./artifact/pack.yaml docker://127.0.0.1:1/x:y");
        Assert.Equal("ArtifactDestinationUnsupported,OciPS.Commands.PublishOciArtifactCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void The_proxy_serves_a_layout_that_skopeo_copies_bit_identically_and_Stop_Job_closes_the_port()
    {
        using var session = Session();
        var published = session.Run("Publish-OciArtifact ./artifact/multi.yaml \"oci:$PWD/layout:tools\" -PassThru");
        published.ThrowIfFailed();
        var result = session.Run("$global:proxy = Start-OciRegistryProxy ./layout -Name example/app; $proxy; Receive-Job $proxy");
        result.ThrowIfFailed();
        Assert.Equal("OciPS.Commands.RegistryProxyJob", result.Output[0].BaseObject.GetType().FullName);
        var info = RegistryProxyInfoView.From(result.Output[1]);
        try
        {
            var inspected = Skopeo.Inspect($"docker://{info.Host}/example/app:1.0", "--tls-verify=false");
            Assert.Equal(images.ImageDigest.ToString(), inspected.GetProperty("Digest").GetString());
            var raw = ProcessRunner.Run("skopeo", ["inspect", "--raw", "--tls-verify=false", $"docker://{info.Host}/example/app:1.0"]).StandardOutput;
            Assert.Equal(File.ReadAllText(Path.Combine(images.Layout, "blobs", "sha256", images.ImageDigest.Encoded)), raw);

            var copy = _output.Combine("copy");
            Skopeo.Copy($"docker://{info.Host}/example/app:multi", $"oci:{copy}:multi", "--src-tls-verify=false", "--all", "--preserve-digests");
            foreach (var blob in Directory.GetFiles(Path.Combine(copy, "blobs", "sha256")))
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(images.Layout, "blobs", "sha256", Path.GetFileName(blob))), File.ReadAllBytes(blob));
            }

            Skopeo.Copy($"docker://{info.Host}/example/app:tools", $"oci:{copy}:tools", "--src-tls-verify=false", "--all", "--preserve-digests");
            Assert.Equal(Digest.Compute(Skopeo.InspectRaw($"oci:{copy}:tools")).ToString(), published.Output[0].Properties["Digest"].Value.ToString());

            var tags = ProcessRunner.Run("skopeo", ["list-tags", "--tls-verify=false", $"docker://{info.Host}/example/app"]).StandardOutput;
            Assert.Contains("\"multi\"", tags, StringComparison.Ordinal);
        }
        finally
        {
            var stopped = session.Run("Stop-Job $proxy; (Get-Job -Id $proxy.Id).State; Remove-Job $proxy");
            stopped.ThrowIfFailed();
            Assert.Equal("Stopped", stopped.Output[0].ToString());
        }

        using var client = new TcpClient();
        Assert.ThrowsAny<SocketException>(() => client.Connect("127.0.0.1", info.Port));
    }

    /// <summary>Reads the proxy info through PowerShell's adapter (the type lives in the module's load context).</summary>
    private sealed record RegistryProxyInfoView(string Host, int Port)
    {
        public static RegistryProxyInfoView From(PSObject value) =>
            new((string)value.Properties["Host"].Value, (int)value.Properties["Port"].Value);
    }
}

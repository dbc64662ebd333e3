using System.Diagnostics;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>
/// The connection parameters of the cmdlets against real components: a TLS docker-registry with a CA of
/// its own, tinyproxy, a listener that never answers, and a registry whose blob download hangs midway.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryConnectionCmdletTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _temp = new("connection-cmdlets");

    public void Dispose() => _temp.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    private LocalRegistry StartWithFixtureImage(bool tls = false, RegistryAuth auth = RegistryAuth.None)
    {
        var registry = LocalRegistry.Start(auth, tls);
        Skopeo.Copy($"oci:{images.Layout}:1.0", $"docker://{registry.Host}/example/app:1.0", registry.SkopeoOptions(destination: true));
        return registry;
    }

    private string Cache() => _temp.Combine("cache-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Every cmdlet that reads a registry, as "$($args[0])" = the image, $args[1] = a cache, $args[2] = an output path.</summary>
    public static TheoryData<string, string> RegistryReaders() => new()
    {
        { "GetOciManifestCommand", "Get-OciManifest $args[0] -CachePath $args[1]" },
        { "GetOciTagCommand", "Get-OciTag ($args[0] -replace ':1.0$') -CachePath $args[1]" },
        { "GetOciLayerCommand", "Get-OciLayer $args[0] -CachePath $args[1]" },
        { "GetOciFileCommand", "Get-OciFile $args[0] -CachePath $args[1]" },
        { "SaveOciImageCommand", "Save-OciImage $args[0] -Destination \"oci:$($args[2]):1.0\" -CachePath $args[1] -PassThru" },
        { "CopyOciImageCommand", "Copy-OciImage $args[0] \"oci:$($args[2]):1.0\" -CachePath $args[1] -PassThru" },
        { "ExportOciRootfsCommand", "Export-OciRootfs $args[0] -Destination $args[2] -Format Tar -CachePath $args[1] -PassThru" },
        { "MergeOciLayerCommand", "Merge-OciLayer $args[0] -CachePath $args[1]" },
        { "TestOciRootfsCommand", "[System.IO.Directory]::CreateDirectory($args[2]) | Out-Null; Test-OciRootfs $args[2] $args[0] -CachePath $args[1]" },
        { "ConnectOciRegistryCommand", "Connect-OciRegistry ($args[0] -replace '/.*$') -Credential ([pscredential]::new('u', [System.Net.NetworkCredential]::new('', 'p').SecurePassword)) -NoStore -PassThru" },
    };

    [Theory]
    [MemberData(nameof(RegistryReaders))]
    public void EveryRegistryReaderNeedsTrustForATlsRegistryAndTakesCaCertificateOrSkipCertificateCheck(string command, string script)
    {
        using var registry = StartWithFixtureImage(tls: true);
        using var session = Session();
        var image = $"{registry.Host}/example/app:1.0";

        var untrusted = session.Run(script, image, Cache(), _temp.Combine("out-" + Guid.NewGuid().ToString("N")[..6]));
        Assert.Equal("RegistryCertificateUntrusted,OciPS.Commands." + command, untrusted.FirstError?.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.SecurityError, untrusted.FirstError!.CategoryInfo.Category);
        Assert.Contains(registry.Host, untrusted.FirstError.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("-CaCertificate", untrusted.FirstError.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("-SkipCertificateCheck", untrusted.FirstError.Exception.Message, StringComparison.Ordinal);

        var trusted = session.Run(script + " -CaCertificate $args[3]", image, Cache(), _temp.Combine("out-" + Guid.NewGuid().ToString("N")[..6]), registry.Tls!.CaCertificatePath);
        trusted.ThrowIfFailed();
        Assert.NotEmpty(trusted.Output);

        var skipped = session.Run(script + " -SkipCertificateCheck", image, Cache(), _temp.Combine("out-" + Guid.NewGuid().ToString("N")[..6]));
        skipped.ThrowIfFailed();
        Assert.NotEmpty(skipped.Output);
    }

    [Fact]
    public void TheOldSkipTlsVerifyNameStillWorks()
    {
        using var registry = StartWithFixtureImage(tls: true);
        using var session = Session();

        var result = session.Run("Get-OciManifest \"$($args[0])/example/app:1.0\" -CachePath $args[1] -SkipTlsVerify", registry.Host, Cache());

        result.ThrowIfFailed();
        Assert.Equal(images.ImageDigest.ToString(), result.Output[0].Properties["Digest"].Value.ToString());
    }

    [Fact]
    public void CopyTakesSourceAndDestinationTlsProxyAndCredentialsApart()
    {
        using var source = StartWithFixtureImage(auth: RegistryAuth.Basic);
        using var destination = LocalRegistry.Start(RegistryAuth.Basic, tls: true);
        using var proxy = PeerProxy.StartTinyproxy();
        using var session = Session();
        session.Run("$global:cred = [pscredential]::new($args[0], [System.Net.NetworkCredential]::new('', $args[1]).SecurePassword)", LocalRegistry.Username, LocalRegistry.Password).ThrowIfFailed();
        object[] arguments = [$"{source.Host}/example/app:1.0", $"{destination.Host}/example/copy:1.0", proxy.Address, destination.Tls!.CaCertificatePath, Cache()];

        // Credentials for the source only: reading works, writing is refused.
        var sourceOnly = session.Run("Copy-OciImage $args[0] $args[1] -SourceCredential $cred -SourceProxy $args[2] -DestinationCaCertificate $args[3] -CachePath $args[4]", arguments);
        Assert.Equal("RegistryAuthenticationFailed,OciPS.Commands.CopyOciImageCommand", sourceOnly.FirstError?.FullyQualifiedErrorId);

        // The CA given for the source only does not make the destination trusted.
        var wrongSide = session.Run("Copy-OciImage $args[0] $args[1] -Credential $cred -SourceCaCertificate $args[3] -CachePath $args[4]", arguments);
        Assert.Equal("RegistryCertificateUntrusted,OciPS.Commands.CopyOciImageCommand", wrongSide.FirstError?.FullyQualifiedErrorId);
        Assert.Contains(destination.Host, wrongSide.FirstError!.Exception.Message, StringComparison.Ordinal);

        var copied = session.Run("Copy-OciImage $args[0] $args[1] -SourceCredential $cred -DestinationCredential $cred -SourceProxy $args[2] -DestinationCaCertificate $args[3] -CachePath $args[4] -PassThru", arguments);
        copied.ThrowIfFailed();
        Assert.Equal(images.ImageDigest.ToString(), copied.Output[0].Properties["Digest"].Value.ToString());
        Assert.True(proxy.Carried($"http://{source.Host}/v2/example/app/"), string.Join("\n", proxy.Requests));
        Assert.False(proxy.Carried(destination.Host), "the destination was reached through the source's proxy:\n" + string.Join("\n", proxy.Requests));
        var pushed = Skopeo.InspectRawWith($"docker://{destination.Host}/example/copy:1.0", destination.SkopeoInspectOptions());
        Assert.Equal(images.ImageDigest, Core.Model.Digest.Compute(pushed));
    }

    [Fact]
    public void TheUnprefixedProxyCarriesBothSidesAndADestinationProxyOnlyTheDestination()
    {
        using var source = StartWithFixtureImage();
        using var destination = LocalRegistry.Start();
        using var both = PeerProxy.StartTinyproxy();
        using var destinationProxy = PeerProxy.StartTinyproxy();
        using var session = Session();

        session.Run("Copy-OciImage \"$($args[0])/example/app:1.0\" \"$($args[1])/example/both:1.0\" -Proxy $args[2] -CachePath $args[3]", source.Host, destination.Host, both.Address, Cache()).ThrowIfFailed();
        Assert.True(both.Carried(source.Host) && both.Carried(destination.Host), string.Join("\n", both.Requests));

        session.Run("Copy-OciImage \"$($args[0])/example/app:1.0\" \"$($args[1])/example/dest:1.0\" -DestinationProxy $args[2] -CachePath $args[3]", source.Host, destination.Host, destinationProxy.Address, Cache()).ThrowIfFailed();
        Assert.True(destinationProxy.Carried(destination.Host), string.Join("\n", destinationProxy.Requests));
        Assert.False(destinationProxy.Carried(source.Host), string.Join("\n", destinationProxy.Requests));
    }

    [Fact]
    public void NewOciImageReadsFromThroughTheSourceProxyAndPushesDirectly()
    {
        using var source = StartWithFixtureImage();
        using var destination = LocalRegistry.Start();
        using var proxy = PeerProxy.StartTinyproxy();
        using var session = Session();
        var context = _temp.Combine("context");
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {source.Host}/example/app:1.0\nLABEL built=yes\n");

        var result = session.Run("New-OciImage $args[0] \"$($args[1])/example/built:1\" -SourceProxy $args[2] -CachePath $args[3] -PassThru", context, destination.Host, proxy.Address, Cache());

        result.ThrowIfFailed();
        Assert.True(proxy.Carried($"http://{source.Host}/v2/example/app/"), string.Join("\n", proxy.Requests));
        Assert.False(proxy.Carried(destination.Host), string.Join("\n", proxy.Requests));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("'00:00:01'")]
    [InlineData("0.75")]
    public void ARegistryThatNeverAnswersTimesOutAfterTimeoutNamingIt(string timeout)
    {
        using var silent = SilentListener.Start();
        using var session = Session();
        var clock = Stopwatch.StartNew();

        var result = session.Run($"Get-OciManifest \"$($args[0])/stalled/image:1\" -CachePath $args[1] -Timeout {timeout} -MaxRetry 0", silent.Host, Cache());

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal("RegistryUnreachable,OciPS.Commands.GetOciManifestCommand", result.FirstError?.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, result.FirstError!.CategoryInfo.Category);
        Assert.Contains(silent.Host, result.FirstError.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("no answer within", result.FirstError.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATimeoutOfZeroOrADayIsRefused()
    {
        using var session = Session();

        var result = session.Run("Get-OciManifest 127.0.0.1:1/x:1 -Timeout 0");

        Assert.Equal("ParameterArgumentValidationError,OciPS.Commands.GetOciManifestCommand", result.FirstError?.FullyQualifiedErrorId);
    }

    [Fact]
    public async Task StoppingAPullHeldMidBlobEndsPromptlyAndLeavesOnlyAResumablePartialFile()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("big-layout");
        var big = new byte[400_000];
        new Random(7).NextBytes(big);
        await new ImageBuilder().Layer(new LayerBuilder().File("big.bin", big)).WriteAsync(OciLayoutWriter.Open(layout), "1");
        Skopeo.Copy($"oci:{layout}:1", $"docker://{registry.Host}/big/image:1", registry.SkopeoOptions(destination: true));
        using var proxy = FaultProxy.Start(registry.Host);
        proxy.StallAfterBytes = 100_000;
        var cache = Cache();
        var output = _temp.Combine("saved");
        using var session = Session();

        using var shell = session.Prepare("Save-OciImage \"$($args[0])/big/image:1\" -Destination \"oci:$($args[1]):1\" -CachePath $args[2]", proxy.Host, output, cache);
        var running = shell.BeginInvoke();
        Assert.True(await Task.WhenAny(proxy.Stalled, Task.Delay(TimeSpan.FromSeconds(30))) == proxy.Stalled, "the blob download never started");
        // Stop once the stalled download's first bytes are in the cache's partial file.
        var blobsDirectory = Path.Combine(cache, "blobs", "sha256");
        var waiting = Stopwatch.StartNew();
        while (!(Directory.Exists(blobsDirectory) && Directory.GetFiles(blobsDirectory, "*.partial*").Any(f => new FileInfo(f).Length > 0)) && waiting.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        var clock = Stopwatch.StartNew();
        shell.Stop();
        Assert.True(running.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the pipeline did not end");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"stopping took {clock.Elapsed}");
        Assert.Throws<PipelineStoppedException>(() => shell.EndInvoke(running));

        var blobs = Path.Combine(cache, "blobs", "sha256");
        var files = Directory.GetFiles(blobs).Select(Path.GetFileName).ToArray();
        var partial = Assert.Single(files, f => f!.Contains(".partial", StringComparison.Ordinal));
        Assert.EndsWith(".partial", partial, StringComparison.Ordinal);
        var kept = new FileInfo(Path.Combine(blobs, partial!)).Length;
        Assert.True(kept is > 0 and <= 100_000, $"the partial file holds {kept} bytes");
        Assert.DoesNotContain(files, f => f == partial![..^".partial".Length]);
        var index = Path.Combine(output, "index.json");
        Assert.False(File.Exists(index) && File.ReadAllText(index).Contains("\"digest\"", StringComparison.Ordinal), "an unfinished save named an image in the layout");

        // The partial file is released: the next pull resumes it from byte 100 000 and completes.
        proxy.StallAfterBytes = 0;
        var again = session.Run("Save-OciImage \"$($args[0])/big/image:1\" -Destination \"oci:$($args[1]):1\" -CachePath $args[2] -PassThru", proxy.Host, output, cache);
        again.ThrowIfFailed();
        Assert.True(File.Exists(Path.Combine(blobs, partial![..^".partial".Length])));
        Assert.DoesNotContain(Directory.GetFiles(blobs), f => f.Contains(".partial", StringComparison.Ordinal));
    }
}

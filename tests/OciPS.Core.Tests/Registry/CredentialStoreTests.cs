using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

/// <summary>Credentials found where docker and podman keep them, and used against a real registry.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class CredentialStoreTests : IDisposable
{
    private readonly TempDirectory _temp = new("creds");

    public void Dispose() => _temp.Dispose();

    private static string Auth(string user, string password) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(user + ":" + password));

    [Fact]
    public async Task DockerConfigAuthsAreUsedForABasicRegistry()
    {
        using var registry = LocalRegistry.Start(RegistryAuth.Basic);
        var layout = _temp.Combine("layout");
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1");
        Skopeo.Copy($"oci:{layout}:v1", $"docker://{registry.Host}/creds/me:v1", registry.SkopeoOptions(destination: true));
        var config = _temp.WriteFile("docker/config.json", "{\"auths\":{\"http://" + registry.Host + "\":{\"auth\":\"" + Auth(LocalRegistry.Username, LocalRegistry.Password) + "\"}}}");
        var options = new ImageSourceOptions { CachePath = _temp.Combine("cache"), Registry = new RegistryOptions { Credentials = new CredentialStore([config]) } };

        var image = await ImageLoader.LoadAsync(ImageSources.Open($"{registry.Host}/creds/me:v1", options: options), null, CancellationToken.None);

        Assert.Equal(manifest.Digest, image.Digest);
    }

    [Fact]
    public async Task CredHelpersWinOverAuthsAndRunTheHelperProgram()
    {
        var bin = _temp.Combine("bin");
        Directory.CreateDirectory(bin);
        var helper = Path.Combine(bin, "docker-credential-ocipstest");
        File.WriteAllText(helper, "#!/bin/sh\nread host\n[ \"$1\" = get ] && [ \"$host\" = \"registry.example:5000\" ] && printf '{\"ServerURL\":\"%s\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}' \"$host\" && exit 0\necho 'credentials not found in native keychain'\nexit 1\n");
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var config = _temp.WriteFile(
            "config.json",
            "{\"auths\":{\"registry.example:5000\":{\"auth\":\"" + Auth("file-user", "file-secret") + "\"},\"other.example\":{\"auth\":\"" + Auth("other", "pw") + "\"}}," +
            "\"credHelpers\":{\"registry.example:5000\":\"ocipstest\"},\"credsStore\":\"ocipstest\"}");
        var path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", bin + ":" + path);
        try
        {
            var store = new CredentialStore([config]);
            var fromHelper = await store.FindAsync("registry.example:5000", CancellationToken.None);
            var fromAuths = await store.FindAsync("other.example", CancellationToken.None);
            var fromStoreMissing = await store.FindAsync("unknown.example", CancellationToken.None);

            Assert.Equal("helper-user", fromHelper!.Username);
            Assert.Equal("helper-secret", fromHelper.Secret);
            Assert.Equal("other", fromAuths!.Username);
            Assert.Null(fromStoreMissing);
            Assert.DoesNotContain("secret", fromHelper.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    [Fact]
    public async Task StoredCredentialsKeepTheRestOfTheFileAndAreFoundAgain()
    {
        var config = _temp.WriteFile("config.json", """{"auths":{"a.example":{"auth":"YTpi"}},"psFormat":"table"}""");
        CredentialStore.StoreInFile(config, "https://index.docker.io/v1/", new RegistryCredential("me", "pw:with:colons"));
        CredentialStore.StoreInFile(config, "localhost:5000", new RegistryCredential("local", "x"));

        var store = new CredentialStore([config]);
        var hub = await store.FindAsync("docker.io", CancellationToken.None);
        Assert.Equal("pw:with:colons", hub!.Secret);
        Assert.Equal("local", (await store.FindAsync("localhost:5000", CancellationToken.None))!.Username);
        Assert.Equal("a", (await store.FindAsync("a.example", CancellationToken.None))!.Username);
        Assert.Contains("psFormat", File.ReadAllText(config), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
    }

    [Fact]
    public async Task PodmanAuthFileNamedByRegistryAuthFileIsRead()
    {
        var auth = _temp.WriteFile("auth.json", "{\"auths\":{\"quay.example\":{\"auth\":\"" + Auth("podman-user", "pw") + "\"}}}");
        var previous = Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE");
        Environment.SetEnvironmentVariable("REGISTRY_AUTH_FILE", auth);
        try
        {
            Assert.Equal("podman-user", (await CredentialStore.Default.FindAsync("quay.example", CancellationToken.None))!.Username);
            Assert.Equal(auth, CredentialStore.Default.SearchPath()[0]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("REGISTRY_AUTH_FILE", previous);
        }
    }

    [Fact]
    public void ChallengesAreParsedWithQuotedCommas()
    {
        var challenge = AuthChallenge.Parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"")!;
        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example/token", challenge.Realm);
        Assert.Equal("registry.example", challenge.Service);
        Assert.Equal("repository:a/b:pull,push", challenge.Scope);
        Assert.Equal("x", AuthChallenge.Parse("Basic realm=x")!.Realm);
    }

    [Fact]
    public void KnownRegistries_ListEveryFilesAuthsAndHelpers_NormalisedAndSorted()
    {
        var docker = _temp.Combine("known-docker.json");
        File.WriteAllText(docker, """{"auths":{"https://index.docker.io/v1/":{"auth":"eDp5"},"ghcr.io":{}},"credHelpers":{"123.dkr.ecr.example":"ecr-login"}}""");
        var podman = _temp.Combine("known-auth.json");
        File.WriteAllText(podman, """{"auths":{"quay.io":{"auth":"eDp5"},"ghcr.io":{"auth":"eDp5"}}}""");
        var broken = _temp.Combine("known-broken.json");
        File.WriteAllText(broken, "{ not json");
        var store = new CredentialStore([broken, podman, docker, _temp.Combine("absent.json")]);

        var known = store.KnownRegistries();

        // Other tests may have remembered session credentials in this process: those are listed too.
        string[] expected = ["123.dkr.ecr.example", "docker.io", "ghcr.io", "quay.io"];
        Assert.Equal(expected, known.Where(expected.Contains).ToArray());
        Assert.Equal(known.Order(StringComparer.Ordinal).ToArray(), known.ToArray());
        Assert.DoesNotContain(known, host => host.Contains("index.docker.io", StringComparison.Ordinal) || host.Contains("://", StringComparison.Ordinal));
    }
}

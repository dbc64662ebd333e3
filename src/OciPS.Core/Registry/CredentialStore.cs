using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OciPS.Core.References;

namespace OciPS.Core.Registry;

/// <summary>
/// Finds stored credentials for a registry where docker and podman keep them: credentials given to
/// this process (<c>Connect-OciRegistry -NoStore</c>), then <c>REGISTRY_AUTH_FILE</c>, podman's
/// <c>$XDG_RUNTIME_DIR/containers/auth.json</c>, and docker's <c>$DOCKER_CONFIG/config.json</c>
/// (<c>~/.docker/config.json</c>). In each file <c>credHelpers</c> wins over <c>auths</c>, which wins
/// over <c>credsStore</c>; helpers are run as <c>docker-credential-&lt;name&gt; get</c>.
/// </summary>
public sealed class CredentialStore
{
    private static readonly ConcurrentDictionary<string, RegistryCredential> SessionCredentials = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Reads the files the environment names (evaluated at each lookup, so tests and users can change it).</summary>
    public static CredentialStore Default { get; } = new(null);

    /// <summary>A store that reads only the given files (in order), plus the session's credentials.</summary>
    public CredentialStore(IReadOnlyList<string>? files)
    {
        Files = files;
    }

    /// <summary>The files read, or null for the environment's.</summary>
    public IReadOnlyList<string>? Files { get; }

    /// <summary>The docker config file <c>Connect-OciRegistry</c> writes to: <c>$DOCKER_CONFIG/config.json</c> or <c>~/.docker/config.json</c>.</summary>
    public static string DockerConfigPath =>
        Path.Combine(
            Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } directory
                ? directory
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker"),
            "config.json");

    /// <summary>Remembers a credential for this process only.</summary>
    public static void RememberForSession(string registry, RegistryCredential credential) =>
        SessionCredentials[NormaliseHost(registry)] = credential;

    /// <summary>Forgets a credential remembered for this process.</summary>
    public static bool ForgetForSession(string registry) => SessionCredentials.TryRemove(NormaliseHost(registry), out _);

    /// <summary>The files searched, in order, for the current environment.</summary>
    public IReadOnlyList<string> SearchPath()
    {
        if (Files is not null)
        {
            return Files;
        }

        var files = new List<string>();
        if (Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE") is { Length: > 0 } authFile)
        {
            files.Add(authFile);
        }

        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
        {
            files.Add(Path.Combine(runtime, "containers", "auth.json"));
        }

        files.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData), "containers", "auth.json"));
        files.Add(DockerConfigPath);
        return files;
    }

    /// <summary>The credential for <paramref name="registry"/> (as users name it: <c>docker.io</c>, <c>localhost:5000</c>), or null.</summary>
    public async Task<RegistryCredential?> FindAsync(string registry, CancellationToken cancellationToken)
    {
        var host = NormaliseHost(registry);
        if (SessionCredentials.TryGetValue(host, out var remembered))
        {
            return remembered;
        }

        foreach (var file in SearchPath())
        {
            var found = await FindInFileAsync(file, host, cancellationToken).ConfigureAwait(false);
            if (found is not null)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// Stores a credential in a docker config file's <c>auths</c> (base64 <c>user:secret</c>), keeping
    /// everything else the file holds. The file is replaced atomically and readable by its owner only.
    /// </summary>
    public static void StoreInFile(string file, string registry, RegistryCredential credential)
    {
        var host = NormaliseHost(registry);
        JsonObject root;
        if (File.Exists(file))
        {
            try
            {
                root = JsonNode.Parse(File.ReadAllBytes(file)) as JsonObject ?? new JsonObject();
            }
            catch (JsonException ex)
            {
                throw new CorruptContentException("CredentialFileInvalid", $"'{file}' is not valid JSON ({ex.Message}); fix or remove it before storing credentials in it.", file, ex);
            }
        }
        else
        {
            root = new JsonObject();
        }

        if (root["auths"] is not JsonObject auths)
        {
            auths = new JsonObject();
            root["auths"] = auths;
        }

        var key = host == ImageReference.DockerHub ? "https://index.docker.io/v1/" : host;
        var entry = new JsonObject();
        if (credential.IsIdentityToken)
        {
            entry["identitytoken"] = credential.Secret;
        }
        else
        {
            entry["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.Username + ":" + credential.Secret));
        }

        auths[key] = entry;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var temporary = file + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var streamOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                streamOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new FileStream(temporary, streamOptions))
            {
                using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
                root.WriteTo(writer);
            }

            File.Move(temporary, file, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// The registries a credential is known for (this session's, and every auth file's <c>auths</c> and
    /// <c>credHelpers</c> keys), sorted: what a user has logged in to, for completion. Unreadable files are passed over.
    /// </summary>
    public IReadOnlyList<string> KnownRegistries()
    {
        var hosts = new SortedSet<string>(SessionCredentials.Keys, StringComparer.Ordinal);
        foreach (var file in SearchPath())
        {
            try
            {
                if (!File.Exists(file))
                {
                    continue;
                }

                using var document = JsonDocument.Parse(File.ReadAllBytes(file));
                foreach (var section in new[] { "auths", "credHelpers" })
                {
                    if (document.RootElement.ValueKind == JsonValueKind.Object &&
                        document.RootElement.TryGetProperty(section, out var entries) && entries.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var entry in entries.EnumerateObject())
                        {
                            hosts.Add(NormaliseHost(entry.Name));
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
            {
                // A completion lists what it can read; the file's owner sees its problem when it is used for real.
            }
        }

        hosts.Remove(string.Empty);
        return hosts.ToArray();
    }

    /// <summary>The host part of a registry name or URL, as auth files key it (docker.io for Docker Hub's aliases).</summary>
    public static string NormaliseHost(string registry)
    {
        var host = registry.Trim();
        var scheme = host.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            host = host[(scheme + 3)..];
        }

        var slash = host.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            host = host[..slash];
        }

        host = host.ToLowerInvariant();
        return host is "index.docker.io" or ImageReference.DockerHubApiHost ? ImageReference.DockerHub : host;
    }

    private static async Task<RegistryCredential?> FindInFileAsync(string file, string host, CancellationToken cancellationToken)
    {
        JsonElement root;
        try
        {
            if (!File.Exists(file))
            {
                return null;
            }

            using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false));
            root = document.RootElement.Clone();
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // A broken file must not stop anonymous pulls; docker ignores it the same way for reads.
            return null;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (root.TryGetProperty("credHelpers", out var helpers) && helpers.ValueKind == JsonValueKind.Object)
        {
            foreach (var helper in helpers.EnumerateObject())
            {
                if (NormaliseHost(helper.Name) == host && helper.Value.GetString() is { Length: > 0 } name)
                {
                    return await RunHelperAsync(name, host, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (root.TryGetProperty("auths", out var auths) && auths.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in auths.EnumerateObject())
            {
                if (NormaliseHost(entry.Name) == host && FromAuthEntry(entry.Value, file, host) is { } credential)
                {
                    return credential;
                }
            }
        }

        if (root.TryGetProperty("credsStore", out var store) && store.GetString() is { Length: > 0 } storeName)
        {
            return await RunHelperAsync(storeName, host, cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    private static RegistryCredential? FromAuthEntry(JsonElement entry, string file, string host)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (entry.TryGetProperty("identitytoken", out var identity) && identity.GetString() is { Length: > 0 } token)
        {
            return new RegistryCredential(string.Empty, token, isIdentityToken: true);
        }

        if (entry.TryGetProperty("auth", out var auth) && auth.GetString() is { Length: > 0 } encoded)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
            }
            catch (FormatException)
            {
                throw new CorruptContentException("CredentialFileInvalid", $"The 'auth' entry for {host} in '{file}' is not base64.", file);
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon > 0
                ? new RegistryCredential(decoded[..colon], decoded[(colon + 1)..])
                : throw new CorruptContentException("CredentialFileInvalid", $"The 'auth' entry for {host} in '{file}' is not 'user:password'.", file);
        }

        if (entry.TryGetProperty("username", out var user) && entry.TryGetProperty("password", out var password) &&
            user.GetString() is { Length: > 0 } username && password.GetString() is { } secret)
        {
            return new RegistryCredential(username, secret);
        }

        return null;
    }

    /// <summary>Runs <c>docker-credential-&lt;name&gt; get</c> with the host on stdin, as docker does.</summary>
    private static async Task<RegistryCredential?> RunHelperAsync(string helper, string host, CancellationToken cancellationToken)
    {
        var program = "docker-credential-" + helper;
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("get");
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new RegistryAuthenticationException(host, $"The credential helper '{program}' named in the docker configuration could not be run: {ex.Message}");
        }

        using (process)
        {
            var serverUrl = host == ImageReference.DockerHub ? "https://index.docker.io/v1/" : host;
            await process.StandardInput.WriteAsync(serverUrl.AsMemory(), cancellationToken).ConfigureAwait(false);
            process.StandardInput.Close();
            var output = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                // Helpers answer "credentials not found in native keychain" with a failure: anonymous then.
                return null;
            }

            try
            {
                using var document = JsonDocument.Parse(output);
                var username = document.RootElement.TryGetProperty("Username", out var u) ? u.GetString() ?? string.Empty : string.Empty;
                var secret = document.RootElement.TryGetProperty("Secret", out var s) ? s.GetString() ?? string.Empty : string.Empty;
                if (secret.Length == 0)
                {
                    return null;
                }

                return username == "<token>" ? new RegistryCredential(string.Empty, secret, isIdentityToken: true) : new RegistryCredential(username, secret);
            }
            catch (JsonException)
            {
                // The output may contain the secret: never quote it.
                throw new RegistryAuthenticationException(host, $"The credential helper '{program}' printed something that is not the JSON credential docker expects.");
            }
        }
    }
}

using OciPS.Core;
using OciPS.Core.Artifacts;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

public sealed class PackFileReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new("pack");

    public PackFileReaderTests()
    {
        _dir.WriteFile("config.tmpl", "port: 80\n");
        _dir.WriteFile("schema.json", "{}");
        _dir.WriteFile("data/a.txt", "a");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_the_oci_packer_readme_example()
    {
        var pack = Parse("""
            type: application/vnd.example.artifact
            annotations:
              org.opencontainers.image.title: "My artifact"
              org.opencontainers.image.vendor: "Arenadata"
            config:
              from: file://schema.json
              type: application/vnd.example.schema
            items:
              - from: file://config.tmpl
                type: application/vnd.example.template
                annotations:
                  description: "Configuration template"
              - from: dir://data/
                type: application/vnd.example.data
              - from: https://example.com/binary.tar.gz
              - from: oci://registry.example.com/myimage:latest
                platform: linux/amd64
              - from: oci://registry.example.com/myimage:latest
                platform: linux(v8)/arm64
            """);

        Assert.Equal("application/vnd.example.artifact", pack.ArtifactType);
        Assert.Equal("Arenadata", pack.Annotations["org.opencontainers.image.vendor"]);
        Assert.Equal(_dir.Combine("schema.json"), pack.Config!.From.Location);
        Assert.Equal("application/vnd.example.schema", pack.Config.MediaType);
        Assert.Equal(5, pack.Items.Count);
        Assert.Equal(PackSourceKind.File, pack.Items[0].From.Kind);
        Assert.Equal("config.tmpl", pack.Items[0].Title);
        Assert.Equal("Configuration template", pack.Items[0].Annotations["description"]);
        Assert.Equal(PackSourceKind.Directory, pack.Items[1].From.Kind);
        Assert.Equal("data", pack.Items[1].Title);
        Assert.Equal(PackSourceKind.Http, pack.Items[2].From.Kind);
        Assert.Equal("binary.tar.gz", pack.Items[2].Title);
        Assert.Equal(PackSourceKind.Image, pack.Items[3].From.Kind);
        Assert.Equal("docker://registry.example.com/myimage:latest", pack.Items[3].From.Location);
        Assert.Equal("linux/amd64", pack.Items[3].Platform!.ToString());
        Assert.Equal("v8", pack.Items[4].Platform!.OsVersion);
        Assert.Equal(new PackPosition(9, 5), pack.Items[0].Position);
    }

    [Fact]
    public void Bare_relative_paths_are_relative_to_the_pack_file_and_directories_are_dir_sources()
    {
        var pack = Parse("""
            items:
              - from: config.tmpl
              - from: data
              - from: file://data/a.txt
                title: renamed.txt
            """);

        Assert.Equal(_dir.Combine("config.tmpl"), pack.Items[0].From.Location);
        Assert.Equal(PackSourceKind.Directory, pack.Items[1].From.Kind);
        Assert.Equal("renamed.txt", pack.Items[2].Title);
    }

    [Fact]
    public void Variables_expand_from_the_environment_with_defaults_and_dollar_escapes()
    {
        var environment = new Dictionary<string, string> { ["VERSION"] = "1.2.3", ["FILE"] = "config.tmpl" };
        var pack = Parse("""
            annotations:
              version: ${VERSION}
              channel: ${CHANNEL:-stable}
              price: $$5
            items:
              - from: file://${FILE}
            """, name => environment.GetValueOrDefault(name));

        Assert.Equal("1.2.3", pack.Annotations["version"]);
        Assert.Equal("stable", pack.Annotations["channel"]);
        Assert.Equal("$5", pack.Annotations["price"]);
        Assert.Equal(_dir.Combine("config.tmpl"), pack.Items[0].From.Location);
    }

    [Fact]
    public void Annotation_overrides_replace_the_pack_files()
    {
        var pack = PackFileReader.Parse("annotations:\n  a: one\n  b: two\nitems:\n  - from: config.tmpl\n", "pack.yaml", _dir.Path, new PackFileReadOptions
        {
            AnnotationOverrides = new Dictionary<string, string> { ["b"] = "override", ["c"] = "new" },
        });

        Assert.Equal("one", pack.Annotations["a"]);
        Assert.Equal("override", pack.Annotations["b"]);
        Assert.Equal("new", pack.Annotations["c"]);
    }

    [Fact]
    public void Http_sources_take_a_sha256_pin_from_the_fragment_or_a_digest_field()
    {
        var hex = new string('a', 64);
        var pack = Parse($"""
            items:
              - from: http://127.0.0.1:1/x.bin#sha256={hex}
              - from: http://127.0.0.1:1/y.bin
                digest: sha256:{hex}
            """);

        Assert.Equal("sha256:" + hex, pack.Items[0].From.Pin!.ToString());
        Assert.Equal("http://127.0.0.1:1/x.bin", pack.Items[0].From.Location);
        Assert.Equal("sha256:" + hex, pack.Items[1].From.Pin!.ToString());
    }

    [Fact]
    public void Unknown_scheme_is_reported_with_line_and_column()
    {
        var error = Single("""
            type: application/vnd.example
            items:
              - from: file://config.tmpl
              - from: ftp://example.com/x
            """, "SchemeUnknown");
        Assert.Equal(new PackPosition(4, 11), error.Position);
        Assert.Contains("ftp:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_reported_with_line_and_column()
    {
        var error = Single("items:\n  - from: file://nope.txt\n", "FileNotFound");
        Assert.Equal(new PackPosition(2, 11), error.Position);
        Assert.Contains("nope.txt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_directory_and_dir_on_a_file_are_reported()
    {
        Assert.Equal(new PackPosition(2, 11), Single("items:\n  - from: dir://missing/\n", "FileNotFound").Position);
        Assert.Equal(new PackPosition(2, 11), Single("items:\n  - from: dir://config.tmpl\n", "SourceInvalid").Position);
    }

    [Theory]
    [InlineData("application")]
    [InlineData("application/")]
    [InlineData("application/vnd example")]
    [InlineData("/json")]
    [InlineData("application/vnd.example;param")]
    public void Bad_media_type_is_reported_with_line_and_column(string mediaType)
    {
        var error = Single($"items:\n  - from: config.tmpl\n    type: \"{mediaType}\"\n", "MediaTypeInvalid");
        Assert.Equal(new PackPosition(3, 11), error.Position);
    }

    [Fact]
    public void Bad_artifact_and_config_media_types_are_reported()
    {
        var errors = Errors("type: nonsense\nconfig:\n  from: schema.json\n  type: also bad\nitems:\n  - from: config.tmpl\n");
        Assert.Equal([new PackPosition(1, 7), new PackPosition(4, 9)], errors.Where(e => e.Code == "MediaTypeInvalid").Select(e => e.Position));
    }

    [Fact]
    public void Duplicate_titles_are_reported_at_the_second_item()
    {
        var error = Single("""
            items:
              - from: config.tmpl
              - from: data/a.txt
                title: config.tmpl
            """, "TitleDuplicate");
        Assert.Equal(new PackPosition(3, 5), error.Position);
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_title_on_different_platforms_is_allowed_but_not_against_a_common_item()
    {
        Parse("""
            items:
              - from: config.tmpl
                platform: linux/amd64
              - from: data/a.txt
                title: config.tmpl
                platform: linux/arm64
            """);
        Single("""
            items:
              - from: config.tmpl
              - from: data/a.txt
                title: config.tmpl
                platform: linux/arm64
            """, "TitleDuplicate");
    }

    [Theory]
    [InlineData("linux/amd64/v3/extra")]
    [InlineData("linux//amd64")]
    [InlineData("linux/am d64")]
    public void Bad_platform_is_reported_with_line_and_column(string platform)
    {
        var error = Single($"items:\n  - from: config.tmpl\n    platform: \"{platform}\"\n", "PlatformInvalid");
        Assert.Equal(new PackPosition(3, 15), error.Position);
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    public void Titles_that_escape_the_output_directory_are_rejected(string title)
    {
        Single($"items:\n  - from: config.tmpl\n    title: \"{title}\"\n", "TitleInvalid");
    }

    [Fact]
    public void Undefined_variables_and_unknown_fields_are_reported()
    {
        var errors = Errors("items:\n  - from: ${NOT_SET_ANYWHERE_42}\n    colour: red\n");
        Assert.Contains(errors, e => e.Code == "VariableUndefined" && e.Position == new PackPosition(2, 11));
        Assert.Contains(errors, e => e.Code == "FieldUnknown" && e.Position == new PackPosition(3, 5));
    }

    [Fact]
    public void All_errors_are_reported_at_once_and_the_message_names_file_line_and_column()
    {
        var ex = Assert.Throws<PackFileException>(() => PackFileReader.Parse(
            "items:\n  - from: gopher://x\n  - from: missing.bin\n    platform: linux/\n", _dir.Combine("pack.yaml"), _dir.Path));
        Assert.Equal(["SchemeUnknown", "FileNotFound", "PlatformInvalid"], ex.Errors.Select(e => e.Code));
        Assert.Equal("PackFileInvalid", ex.ErrorId);
        Assert.Contains(_dir.Combine("pack.yaml") + ":2:11:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(_dir.Combine("pack.yaml") + ":4:15:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_syntax_errors_carry_their_position()
    {
        var error = Single("items:\n  - from: [unclosed\n", "YamlInvalid");
        Assert.True(error.Position.Line >= 2);
    }

    [Fact]
    public void A_pack_file_with_nothing_to_pack_is_rejected()
    {
        Single("type: application/vnd.example\n", "ItemsMissing");
    }

    [Fact]
    public void Subjects_are_digests_or_locations()
    {
        var digest = "sha256:" + new string('b', 64);
        Assert.Equal(digest, Parse($"subject: {digest}\nitems:\n  - from: config.tmpl\n").Subject);
        Assert.Equal("docker://registry.example.com/app:v1", Parse("subject: oci://registry.example.com/app:v1\nitems:\n  - from: config.tmpl\n").Subject);
        Assert.Equal(new PackPosition(1, 10), Single("subject: oci:missing-layout:v1\nitems:\n  - from: config.tmpl\n", "FileNotFound").Position);
    }

    [Fact]
    public void S3_sources_without_credentials_are_reported_with_line_and_column()
    {
        var error = Single("type: application/vnd.example\nitems:\n  - from: config.tmpl\n  - from: s3://bucket/tools/tool.bin\n", "S3CredentialsMissing");
        Assert.Equal(new PackPosition(4, 11), error.Position);
        Assert.Contains("AWS_ACCESS_KEY_ID", error.Message, StringComparison.Ordinal);

        var withKeys = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "k", ["AWS_SECRET_ACCESS_KEY"] = "s" };
        var pack = Parse("items:\n  - from: s3://bucket/tools/tool.bin\n", name => withKeys.GetValueOrDefault(name));
        Assert.Equal(PackSourceKind.S3, pack.Items[0].From.Kind);
        Assert.Equal("tool.bin", pack.Items[0].Title);

        withKeys["AWS_ENDPOINT_URL"] = "ftp://nope";
        var endpoint = Assert.Throws<PackFileException>(() => Parse("items:\n  - from: s3://bucket/k\n", name => withKeys.GetValueOrDefault(name)));
        Assert.Equal("S3EndpointInvalid", Assert.Single(endpoint.Errors).Code);
    }

    [Fact]
    public async Task Every_pack_file_in_the_docs_is_valid()
    {
        _dir.WriteFile("bin/arm64/tool", "tool");
        _dir.WriteFile("sbom.json", "{}");
        foreach (var tag in new[] { "app-1.0", "app-v1.0", "app-v1.0-arm" })
        {
            await Registry.RegistryFixture.WriteImageAsync(_dir.Combine("images"), tag);
        }

        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "artifacts.md"));
        var blocks = System.Text.RegularExpressions.Regex.Matches(docs, "```yaml\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.True(blocks.Count >= 7, "the page shows the reference pack file and one per oci-packer example");
        var environment = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "k", ["AWS_SECRET_ACCESS_KEY"] = "s" };
        foreach (System.Text.RegularExpressions.Match block in blocks)
        {
            // The reference block shows where digests go; any digest stands in for them.
            var yaml = block.Groups[1].Value.Replace("<64 hex digits>", new string('a', 64), StringComparison.Ordinal);
            var pack = Parse(yaml, name => environment.GetValueOrDefault(name));
            Assert.NotEmpty(pack.Items);
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "OciPS.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("OciPS.sln not found above the test binaries.");
    }

    private PackFile Parse(string yaml, Func<string, string?>? environment = null) =>
        PackFileReader.Parse(yaml, "pack.yaml", _dir.Path, new PackFileReadOptions { Environment = environment ?? (_ => null) });

    private IReadOnlyList<PackFileError> Errors(string yaml) =>
        Assert.Throws<PackFileException>(() => Parse(yaml)).Errors;

    private PackFileError Single(string yaml, string code)
    {
        var errors = Errors(yaml);
        return Assert.Single(errors, e => e.Code == code);
    }
}

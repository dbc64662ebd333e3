using System.IO.Compression;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;

// Usage: OciPS.Packager <module folder> <output folder>
// Writes <output>/OciPS.<version>.nupkg and prints its path.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: OciPS.Packager <module folder> <output folder>");
    return 2;
}

var moduleFolder = Path.GetFullPath(args[0]);
var manifestPath = Path.Combine(moduleFolder, "OciPS.psd1");
if (!File.Exists(manifestPath))
{
    Console.Error.WriteLine($"error OCIPACK: '{manifestPath}' is missing; run dotnet build first.");
    return 1;
}

var manifest = ModuleManifest.Read(manifestPath);
Directory.CreateDirectory(args[1]);
var package = Path.Combine(Path.GetFullPath(args[1]), $"OciPS.{manifest.Version}.nupkg");
var temporary = package + ".tmp";

using (var zip = ZipFile.Open(temporary, ZipArchiveMode.Create))
{
    // Fixed entry times, so the same module gives the same package.
    var timestamp = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
    void Add(string name, byte[] content)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
        entry.LastWriteTime = timestamp;
        using var stream = entry.Open();
        stream.Write(content);
    }

    Add("OciPS.nuspec", Encoding.UTF8.GetBytes(Nuspec(manifest)));
    foreach (var file in Directory.GetFiles(moduleFolder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
    {
        var relative = Path.GetRelativePath(moduleFolder, file).Replace('\\', '/');
        Add(relative, File.ReadAllBytes(file));
    }

    Add("[Content_Types].xml", Encoding.UTF8.GetBytes(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">" +
        "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\" />" +
        "<Default Extension=\"nuspec\" ContentType=\"application/octet\" />" +
        "<Default Extension=\"psmdcp\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\" />" +
        string.Concat(Directory.GetFiles(moduleFolder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetExtension(f)).Where(e => e.Length > 1).Select(e => e[1..]).Distinct(StringComparer.OrdinalIgnoreCase)
            .Where(e => e is not ("rels" or "nuspec" or "psmdcp")).Order(StringComparer.Ordinal)
            .Select(e => $"<Default Extension=\"{e}\" ContentType=\"application/octet\" />")) +
        "</Types>"));
    Add("_rels/.rels", Encoding.UTF8.GetBytes(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">" +
        "<Relationship Type=\"http://schemas.microsoft.com/packaging/2010/07/manifest\" Target=\"/OciPS.nuspec\" Id=\"R1\" />" +
        "<Relationship Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"/package/services/metadata/core-properties/properties.psmdcp\" Id=\"R2\" />" +
        "</Relationships>"));
    Add("package/services/metadata/core-properties/properties.psmdcp", Encoding.UTF8.GetBytes(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><coreProperties xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" " +
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\">" +
        $"<dc:creator>{SecurityElement.Escape(manifest.Author)}</dc:creator><dc:description>{SecurityElement.Escape(manifest.Description)}</dc:description>" +
        $"<dc:identifier>OciPS</dc:identifier><version>{manifest.Version}</version><keywords>{SecurityElement.Escape(string.Join(' ', Tags(manifest)))}</keywords>" +
        "</coreProperties>"));
}

File.Move(temporary, package, overwrite: true);
Console.WriteLine(package);
return 0;

static IEnumerable<string> Tags(ModuleManifest manifest) =>
    ((string[])["PSModule", "PSIncludes_Cmdlet"])
        .Concat(manifest.Cmdlets.Select(c => "PSCmdlet_" + c))
        .Concat(manifest.Tags)
        .Distinct(StringComparer.Ordinal);

static string Nuspec(ModuleManifest manifest)
{
    static string X(string text) => SecurityElement.Escape(text);
    return $"""
        <?xml version="1.0" encoding="utf-8"?>
        <package xmlns="http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd">
          <metadata>
            <id>OciPS</id>
            <version>{manifest.Version}</version>
            <authors>{X(manifest.Author)}</authors>
            <owners>{X(manifest.Author)}</owners>
            <requireLicenseAcceptance>false</requireLicenseAcceptance>
            <license type="expression">MIT</license>
            <projectUrl>{X(manifest.ProjectUri)}</projectUrl>
            <description>{X(manifest.Description)}</description>
            <releaseNotes>{X(manifest.ReleaseNotes)}</releaseNotes>
            <copyright>{X(manifest.Copyright)}</copyright>
            <tags>{X(string.Join(' ', Tags(manifest)))}</tags>
          </metadata>
        </package>
        """;
}

/// <summary>The fields of the module manifest the package needs (a psd1 is PowerShell data; these are plain literals in ours).</summary>
internal sealed partial record ModuleManifest(string Version, string Author, string Description, string Copyright, string ProjectUri, string ReleaseNotes, IReadOnlyList<string> Cmdlets, IReadOnlyList<string> Tags)
{
    public static ModuleManifest Read(string path)
    {
        var text = File.ReadAllText(path);
        string Scalar(string key) =>
            Regex.Match(text, @"^\s*" + key + @"\s*=\s*'(?<v>(?:[^']|'')*)'", RegexOptions.Multiline) is { Success: true } m
                ? m.Groups["v"].Value.Replace("''", "'", StringComparison.Ordinal)
                : throw new InvalidDataException($"{path} has no {key}.");
        IReadOnlyList<string> List(string key) =>
            Regex.Match(text, @"^\s*" + key + @"\s*=\s*@\((?<v>[^)]*)\)", RegexOptions.Multiline) is { Success: true } m
                ? Regex.Matches(m.Groups["v"].Value, "'([^']*)'").Select(x => x.Groups[1].Value).ToArray()
                : throw new InvalidDataException($"{path} has no {key}.");

        return new ModuleManifest(Scalar("ModuleVersion"), Scalar("Author"), Scalar("Description"), Scalar("Copyright"), Scalar("ProjectUri"), Scalar("ReleaseNotes"), List("CmdletsToExport"), List("Tags"));
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// <c>Image.md</c>: everything the image says about itself, in Markdown, at the top of the
/// repository. Deterministic (no conversion time, no host names) so the same image gives the same file.
/// </summary>
public static class ImageMarkdown
{
    public const string FileName = "Image.md";

    public static string Render(OciImage image)
    {
        var md = new StringBuilder();
        var config = image.Config?.Config;
        md.Append("# ").Append(image.Reference).Append("\n\n");
        md.Append("| | |\n|---|---|\n");
        Row(md, "Reference", image.Reference);
        Row(md, "Manifest digest", image.Digest.ToString());
        Row(md, "Manifest media type", image.MediaType);
        Row(md, "Config digest", image.ConfigDigest.ToString());
        Row(md, "Platform", image.Platform?.ToString());
        Row(md, "Created", image.Config?.Created);
        Row(md, "Author", image.Config?.Author);
        Row(md, "Size (compressed)", FormatSize(image.Size));
        Row(md, "Layers", image.Layers.Count.ToString(CultureInfo.InvariantCulture));
        md.Append('\n');

        md.Append("## Config\n\n| | |\n|---|---|\n");
        Row(md, "User", config?.User);
        Row(md, "Working directory", config?.WorkingDir);
        Row(md, "Entrypoint", Json(config?.Entrypoint));
        Row(md, "Cmd", Json(config?.Cmd));
        Row(md, "Shell", Json(config?.Shell));
        Row(md, "Stop signal", config?.StopSignal);
        Row(md, "Exposed ports", config?.ExposedPorts is { Count: > 0 } ports ? string.Join(", ", ports.Keys.Order(StringComparer.Ordinal)) : null);
        Row(md, "Volumes", config?.Volumes is { Count: > 0 } volumes ? string.Join(", ", volumes.Keys.Order(StringComparer.Ordinal)) : null);
        Row(md, "Healthcheck", Json(config?.Healthcheck?.Test));
        md.Append('\n');

        md.Append("## Environment\n\n");
        if (config?.Env is { Count: > 0 } env)
        {
            md.Append("```\n");
            foreach (var variable in env)
            {
                md.Append(variable.ReplaceLineEndings(" ")).Append('\n');
            }

            md.Append("```\n\n");
        }
        else
        {
            md.Append("(none)\n\n");
        }

        Table(md, "Labels", config?.Labels);
        Table(md, "Annotations", image.Annotations);

        md.Append("## History\n\n");
        md.Append("| # | Created | Instruction | Layer | Size |\n|---|---|---|---|---|\n");
        for (var i = 0; i < image.History.Count; i++)
        {
            var step = image.History[i];
            md.Append("| ").Append(i.ToString(CultureInfo.InvariantCulture))
                .Append(" | ").Append(Cell(step.History?.Created))
                .Append(" | ").Append(Cell(HistoryMessage.Clean(step.CreatedBy)))
                .Append(" | ").Append(step.EmptyLayer ? "(empty)" : $"{step.Index}: `{step.Digest}`")
                .Append(" | ").Append(step.EmptyLayer ? "0 B" : FormatSize(step.Size))
                .Append(" |\n");
        }

        return md.ToString();
    }

    /// <summary>Sizes as people read them: 1023 B, 4.0 KiB, 12.3 MiB.</summary>
    public static string FormatSize(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static void Table(StringBuilder md, string title, IReadOnlyDictionary<string, string>? values)
    {
        md.Append("## ").Append(title).Append("\n\n");
        if (values is not { Count: > 0 })
        {
            md.Append("(none)\n\n");
            return;
        }

        md.Append("| Key | Value |\n|---|---|\n");
        foreach (var (key, value) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            md.Append("| ").Append(Cell(key)).Append(" | ").Append(Cell(value)).Append(" |\n");
        }

        md.Append('\n');
    }

    private static void Row(StringBuilder md, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            md.Append("| ").Append(name).Append(" | ").Append(Cell(value)).Append(" |\n");
        }
    }

    private static string Cell(string? text) =>
        string.IsNullOrEmpty(text) ? string.Empty : text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);

    private static string? Json(IReadOnlyList<string>? values) =>
        values is null ? null : "`[" + string.Join(", ", values.Select(v => "\"" + JsonEncodedText.Encode(v, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping) + "\"")) + "]`";
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// The commit message of one history step: the Dockerfile instruction that made it, with the
/// builder's noise removed, and trailers naming the layer, so that <c>git log</c> reads like the
/// Dockerfile and <c>git log --grep</c> finds a layer by digest.
/// </summary>
public static partial class HistoryMessage
{
    public const string LayerIndexTrailer = "Layer-Index";
    public const string LayerDigestTrailer = "Layer-Digest";
    public const string LayerDiffIdTrailer = "Layer-DiffID";
    public const string HistoryIndexTrailer = "History-Index";
    public const string EmptyLayerTrailer = "Empty-Layer";

    /// <summary>The full message (subject, optional comment, trailers), ending in a newline.</summary>
    public static string For(OciLayer step, int position)
    {
        var builder = new StringBuilder();
        var instruction = Clean(step.CreatedBy);
        builder.Append(instruction.Length > 0 ? instruction : step.EmptyLayer ? "(empty history step)" : $"Layer {step.Index}").Append('\n');
        if (!string.IsNullOrWhiteSpace(step.Comment))
        {
            builder.Append('\n').Append(step.Comment.Trim().ReplaceLineEndings("\n")).Append('\n');
        }

        builder.Append('\n');
        builder.Append(HistoryIndexTrailer).Append(": ").Append(position.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (step.EmptyLayer)
        {
            builder.Append(EmptyLayerTrailer).Append(": true\n");
        }
        else
        {
            builder.Append(LayerIndexTrailer).Append(": ").Append(step.Index!.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            builder.Append(LayerDigestTrailer).Append(": ").Append(step.Digest).Append('\n');
            if (step.DiffId is not null)
            {
                builder.Append(LayerDiffIdTrailer).Append(": ").Append(step.DiffId).Append('\n');
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// The instruction without the shell wrapper Docker's classic builder records
    /// (<c>/bin/sh -c #(nop) </c> for metadata steps, <c>/bin/sh -c </c> for RUN, <c>|2 A=1 B=2 /bin/sh -c</c>
    /// with build args) and without BuildKit's trailing <c># buildkit</c>.
    /// </summary>
    public static string Clean(string? createdBy)
    {
        if (string.IsNullOrWhiteSpace(createdBy))
        {
            return string.Empty;
        }

        var text = createdBy.Trim();
        text = BuildkitSuffix().Replace(text, string.Empty).TrimEnd();
        var nop = NopPrefix().Match(text);
        if (nop.Success)
        {
            return Collapse(text[nop.Length..]);
        }

        var shell = ShellPrefix().Match(text);
        if (shell.Success)
        {
            return "RUN " + text[shell.Length..].Trim();
        }

        return text;
    }

    /// <summary>The value of a trailer in a message, or null.</summary>
    public static string? Trailer(string message, string name)
    {
        var prefix = name + ": ";
        foreach (var line in message.Split('\n'))
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..].Trim();
            }
        }

        return null;
    }

    private static string Collapse(string instruction)
    {
        var trimmed = instruction.Trim();
        var space = trimmed.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? trimmed : trimmed[..space] + " " + trimmed[(space + 1)..].TrimStart();
    }

    [GeneratedRegex(@"\s*#\s*buildkit\s*$")]
    private static partial Regex BuildkitSuffix();

    [GeneratedRegex(@"^(\|\d+(\s+\S+=\S*)*\s+)?/bin/(ba)?sh\s+-c\s+#\(nop\)\s*")]
    private static partial Regex NopPrefix();

    [GeneratedRegex(@"^((RUN\s+)?\|\d+(\s+\S+=\S*)*\s+|RUN\s+)?/bin/(ba)?sh\s+-c\s+")]
    private static partial Regex ShellPrefix();
}

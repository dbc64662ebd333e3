using System.Text;
using Markdig;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace OciPS.HelpBuilder;

internal sealed record HelpExample(string Title, string Code, IReadOnlyList<string> Remarks);

internal sealed record HelpTypeNote(string TypeName, IReadOnlyList<string> Description);

internal sealed record HelpLink(string Text, string? Uri);

/// <summary>A cmdlet's help page (docs/en-US/&lt;Cmdlet&gt;.md, PlatyPS layout), parsed.</summary>
internal sealed class HelpPage
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseYamlFrontMatter().Build();

    public string Name { get; private set; } = string.Empty;

    public string Synopsis { get; private set; } = string.Empty;

    public List<string> Description { get; } = [];

    public List<HelpExample> Examples { get; } = [];

    public Dictionary<string, List<string>> Parameters { get; } = new(StringComparer.OrdinalIgnoreCase);

    public List<HelpTypeNote> Inputs { get; } = [];

    public List<HelpTypeNote> Outputs { get; } = [];

    public List<string> Notes { get; } = [];

    public List<HelpLink> Links { get; } = [];

    public static HelpPage Parse(string markdown)
    {
        var page = new HelpPage();
        var document = Markdown.Parse(markdown, Pipeline);
        string? section = null;
        string? subsection = null;
        List<string>? current = null;
        foreach (var block in document)
        {
            switch (block)
            {
                case YamlFrontMatterBlock:
                    break;
                case HeadingBlock { Level: 1 } heading:
                    page.Name = Text(heading.Inline);
                    break;
                case HeadingBlock { Level: 2 } heading:
                    section = Text(heading.Inline).ToUpperInvariant();
                    subsection = null;
                    current = section switch
                    {
                        "DESCRIPTION" => page.Description,
                        "NOTES" => page.Notes,
                        _ => null,
                    };
                    break;
                case HeadingBlock { Level: 3 } heading:
                    subsection = Text(heading.Inline);
                    current = page.StartSubsection(section, subsection);
                    break;
                case FencedCodeBlock code when section == "EXAMPLES" && subsection is not null && code.Info is "powershell" or "ps" or "pwsh":
                    var example = page.Examples[^1];
                    page.Examples[^1] = example with { Code = example.Code.Length == 0 ? code.Lines.ToString() : example.Code + "\n" + code.Lines.ToString() };
                    break;
                case FencedCodeBlock:
                    break;
                case ParagraphBlock paragraph when section == "SYNOPSIS":
                    page.Synopsis = (page.Synopsis + " " + Text(paragraph.Inline)).Trim();
                    break;
                case ParagraphBlock paragraph when section == "RELATED LINKS":
                    page.Links.AddRange(ReadLinks(paragraph.Inline));
                    break;
                case ParagraphBlock paragraph:
                    current?.Add(Text(paragraph.Inline));
                    break;
                case ListBlock list:
                    foreach (var item in list.OfType<ListItemBlock>())
                    {
                        var text = string.Join(" ", item.OfType<ParagraphBlock>().Select(p => Text(p.Inline)));
                        current?.Add((list.IsOrdered ? "* " : "- ") + text);
                    }

                    break;
            }
        }

        return page;
    }

    private List<string>? StartSubsection(string? section, string title)
    {
        switch (section)
        {
            case "EXAMPLES":
                var remarks = new List<string>();
                Examples.Add(new HelpExample(title, string.Empty, remarks));
                return remarks;
            case "PARAMETERS" when title.StartsWith('-'):
                var description = new List<string>();
                Parameters[title[1..]] = description;
                return description;
            case "INPUTS":
                var input = new List<string>();
                Inputs.Add(new HelpTypeNote(title, input));
                return input;
            case "OUTPUTS":
                var output = new List<string>();
                Outputs.Add(new HelpTypeNote(title, output));
                return output;
            default:
                return null;
        }
    }

    private static string Text(ContainerInline? inline)
    {
        var builder = new StringBuilder();
        Append(builder, inline);
        return builder.ToString().Trim();
    }

    private static void Append(StringBuilder builder, Inline? inline)
    {
        switch (inline)
        {
            case null:
                return;
            case LiteralInline literal:
                builder.Append(literal.Content.ToString());
                break;
            case CodeInline code:
                builder.Append(code.Content);
                break;
            case LineBreakInline lineBreak:
                builder.Append(lineBreak.IsHard ? "\n" : " ");
                break;
            case ContainerInline container:
                foreach (var child in container)
                {
                    Append(builder, child);
                }

                break;
        }
    }

    private static IEnumerable<HelpLink> ReadLinks(ContainerInline? inline)
    {
        if (inline is null)
        {
            yield break;
        }

        foreach (var child in inline.Descendants<LinkInline>())
        {
            var text = Text(child);
            var uri = child.Url is { } url && url.StartsWith("http", StringComparison.OrdinalIgnoreCase) ? url : null;
            yield return new HelpLink(text, uri);
        }
    }
}

using System.Xml.Linq;

namespace OciPS.HelpBuilder;

/// <summary>Writes PowerShell's MAML command help from the compiled cmdlets and their markdown pages.</summary>
internal static class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static XDocument Write(IEnumerable<(CmdletInfo Cmdlet, HelpPage Page)> commands) =>
        new(
            new XDeclaration("1.0", "utf-8", null),
            new XElement(
                Msh + "helpItems",
                new XAttribute("schema", "maml"),
                commands.Select(c => CommandElement(c.Cmdlet, c.Page))));

    private static XElement CommandElement(CmdletInfo cmdlet, HelpPage page)
    {
        var distinct = cmdlet.Parameters.GroupBy(p => p.Name, StringComparer.Ordinal).Select(g => g.First()).ToArray();
        return new XElement(
            Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XElement(
                Command + "details",
                new XElement(Command + "name", cmdlet.Name),
                new XElement(Command + "verb", cmdlet.Verb),
                new XElement(Command + "noun", cmdlet.Noun),
                Description(page.Synopsis)),
            Description(page.Description),
            new XElement(Command + "syntax", ParameterSets(cmdlet).Select(set => SyntaxItem(cmdlet, set, page))),
            new XElement(Command + "parameters", distinct.Select(p => Parameter(p, page))),
            new XElement(Command + "inputTypes", page.Inputs.Select(i => TypeNote(Command + "inputType", i))),
            new XElement(Command + "returnValues", page.Outputs.Select(o => TypeNote(Command + "returnValue", o))),
            new XElement(Maml + "alertSet", new XElement(Maml + "alert", Paragraphs(page.Notes))),
            new XElement(Command + "examples", page.Examples.Select((e, i) => Example(e, i))),
            new XElement(Maml + "relatedLinks", page.Links.Select(l => new XElement(
                Maml + "navigationLink",
                new XElement(Maml + "linkText", l.Text),
                new XElement(Maml + "uri", l.Uri ?? string.Empty)))));
    }

    private static List<string> ParameterSets(CmdletInfo cmdlet)
    {
        var named = cmdlet.Parameters.Select(p => p.ParameterSet).Where(s => !CmdletMetadata.IsAllSets(s)).Distinct(StringComparer.Ordinal).ToList();
        if (named.Count == 0)
        {
            return ["__AllParameterSets"];
        }

        if (cmdlet.DefaultParameterSet is { } first && named.Remove(first))
        {
            named.Insert(0, first);
        }

        return named;
    }

    private static XElement SyntaxItem(CmdletInfo cmdlet, string set, HelpPage page)
    {
        var members = cmdlet.Parameters
            .Where(p => p.ParameterSet == set || CmdletMetadata.IsAllSets(p.ParameterSet))
            .OrderBy(p => p.Position ?? int.MaxValue)
            .ThenBy(p => p.Mandatory ? 0 : 1);
        return new XElement(
            Command + "syntaxItem",
            new XElement(Maml + "name", cmdlet.Name),
            members.Select(p => Parameter(p, page)));
    }

    private static XElement Parameter(ParameterInfo parameter, HelpPage page)
    {
        var pipeline = (parameter.FromPipeline, parameter.FromPipelineByPropertyName) switch
        {
            (true, true) => "True (ByPropertyName, ByValue)",
            (true, false) => "True (ByValue)",
            (false, true) => "True (ByPropertyName)",
            _ => "False",
        };
        var element = new XElement(
            Command + "parameter",
            new XAttribute("required", parameter.Mandatory ? "true" : "false"),
            new XAttribute("variableLength", parameter.TypeName.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false"),
            new XAttribute("globbing", "false"),
            new XAttribute("pipelineInput", pipeline),
            new XAttribute("position", parameter.Position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "named"),
            new XAttribute("aliases", parameter.Aliases.Count == 0 ? "none" : string.Join(", ", parameter.Aliases)),
            new XElement(Maml + "name", parameter.Name),
            Description(page.Parameters.TryGetValue(parameter.Name, out var text) ? text : []));
        if (!parameter.IsSwitch)
        {
            element.Add(new XElement(Command + "parameterValue", new XAttribute("required", "true"), new XAttribute("variableLength", "false"), parameter.TypeName));
        }

        element.Add(new XElement(Dev + "type", new XElement(Maml + "name", parameter.FullTypeName), new XElement(Maml + "uri")));
        element.Add(new XElement(Dev + "defaultValue", parameter.IsSwitch ? "False" : "None"));
        return element;
    }

    private static XElement TypeNote(XName name, HelpTypeNote note) =>
        new(name, new XElement(Dev + "type", new XElement(Maml + "name", note.TypeName), new XElement(Maml + "uri")), Description(note.Description));

    private static XElement Example(HelpExample example, int index) =>
        new(
            Command + "example",
            new XElement(Maml + "title", $"--------- {example.Title} ---------"),
            new XElement(Dev + "code", example.Code),
            new XElement(Dev + "remarks", Paragraphs(example.Remarks)));

    private static XElement Description(string text) => Description([text]);

    private static XElement Description(IEnumerable<string> paragraphs) => new(Maml + "description", Paragraphs(paragraphs));

    private static IEnumerable<XElement> Paragraphs(IEnumerable<string> paragraphs) =>
        paragraphs.Where(p => p.Length > 0).Select(p => new XElement(Maml + "para", p));
}

using OciPS.HelpBuilder;

// Usage: OciPS.HelpBuilder <docs dir> <cmdlet assembly> <output MAML file> <reference dir>...
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: OciPS.HelpBuilder <docs dir> <cmdlet assembly> <output file> [reference dir]...");
    return 2;
}

var (docs, assembly, output) = (args[0], args[1], args[2]);
var cmdlets = CmdletMetadata.Read(assembly, args.Skip(3).Prepend(Path.GetDirectoryName(Path.GetFullPath(assembly))!));
var problems = new List<string>();
var commands = new List<(CmdletInfo, HelpPage)>();
foreach (var cmdlet in cmdlets)
{
    var file = Path.Combine(docs, cmdlet.Name + ".md");
    if (!File.Exists(file))
    {
        problems.Add($"{cmdlet.Name} has no help page ({file}).");
        continue;
    }

    var page = HelpPage.Parse(File.ReadAllText(file));
    problems.AddRange(HelpRules.Check(cmdlet, page, file));
    commands.Add((cmdlet, page));
}

foreach (var problem in problems)
{
    // MSBuild turns "error" lines in this form into build errors.
    Console.Error.WriteLine($"{docs}: error OCIHELP: {problem}");
}

if (problems.Count > 0)
{
    return 1;
}

Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
var temporary = output + ".tmp";
MamlWriter.Write(commands).Save(temporary);
File.Move(temporary, output, overwrite: true);
Console.WriteLine($"Help for {commands.Count} cmdlets written to {output}.");
return 0;

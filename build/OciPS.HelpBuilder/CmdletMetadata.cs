using System.Reflection;

namespace OciPS.HelpBuilder;

/// <summary>A cmdlet as the compiled assembly declares it.</summary>
internal sealed record CmdletInfo(string Name, string Verb, string Noun, IReadOnlyList<ParameterInfo> Parameters, string? DefaultParameterSet, IReadOnlyList<string> OutputTypes);

/// <summary>One parameter in one parameter set.</summary>
internal sealed record ParameterInfo(
    string Name,
    string TypeName,
    string FullTypeName,
    bool IsSwitch,
    IReadOnlyList<string> Aliases,
    string ParameterSet,
    bool Mandatory,
    int? Position,
    bool FromPipeline,
    bool FromPipelineByPropertyName);

/// <summary>Reads cmdlets and parameters from an assembly without loading it for execution.</summary>
internal static class CmdletMetadata
{
    private const string AllSets = "__AllParameterSets";

    public static IReadOnlyList<CmdletInfo> Read(string assemblyPath, IEnumerable<string> referenceDirectories)
    {
        var paths = new List<string> { assemblyPath };
        paths.AddRange(Directory.GetFiles(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "*.dll"));
        foreach (var directory in referenceDirectories)
        {
            paths.AddRange(Directory.GetFiles(directory, "*.dll"));
        }

        var unique = paths.GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase).Select(g => g.First());
        using var context = new MetadataLoadContext(new PathAssemblyResolver(unique), "System.Runtime");
        var assembly = context.LoadFromAssemblyPath(assemblyPath);
        var cmdlets = new List<CmdletInfo>();
        foreach (var type in assembly.GetTypes().Where(t => t is { IsAbstract: false, IsPublic: true }))
        {
            var cmdlet = type.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "System.Management.Automation.CmdletAttribute");
            if (cmdlet is null)
            {
                continue;
            }

            var verb = (string)cmdlet.ConstructorArguments[0].Value!;
            var noun = (string)cmdlet.ConstructorArguments[1].Value!;
            var defaultSet = cmdlet.NamedArguments.FirstOrDefault(n => n.MemberName == "DefaultParameterSetName").TypedValue.Value as string;
            var outputs = type.GetCustomAttributesData()
                .Where(a => a.AttributeType.FullName == "System.Management.Automation.OutputTypeAttribute")
                .SelectMany(a => a.ConstructorArguments)
                .SelectMany(arg => arg.Value is IEnumerable<CustomAttributeTypedArgument> many ? many : [arg])
                .Select(arg => arg.Value is Type t ? t.FullName! : arg.Value?.ToString() ?? string.Empty)
                .ToArray();
            var parameters = ReadParameters(type);
            if (cmdlet.NamedArguments.Any(n => n.MemberName == "SupportsShouldProcess" && n.TypedValue.Value is true))
            {
                // -WhatIf and -Confirm come with ShouldProcess; they are documented like the cmdlet's own.
                parameters.Add(new ParameterInfo("WhatIf", "SwitchParameter", "System.Management.Automation.SwitchParameter", true, ["wi"], AllSets, false, null, false, false));
                parameters.Add(new ParameterInfo("Confirm", "SwitchParameter", "System.Management.Automation.SwitchParameter", true, ["cf"], AllSets, false, null, false, false));
            }

            cmdlets.Add(new CmdletInfo($"{verb}-{noun}", verb, noun, parameters, defaultSet, outputs));
        }

        return cmdlets.OrderBy(c => c.Name, StringComparer.Ordinal).ToArray();
    }

    private static List<ParameterInfo> ReadParameters(Type type)
    {
        var parameters = new List<ParameterInfo>();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var attributes = property.GetCustomAttributesData();
            var aliases = attributes
                .Where(a => a.AttributeType.FullName == "System.Management.Automation.AliasAttribute")
                .SelectMany(a => a.ConstructorArguments)
                .SelectMany(arg => arg.Value is IEnumerable<CustomAttributeTypedArgument> many ? many.Select(m => (string)m.Value!) : [(string)arg.Value!])
                .ToArray();
            foreach (var parameter in attributes.Where(a => a.AttributeType.FullName == "System.Management.Automation.ParameterAttribute"))
            {
                T Named<T>(string name, T fallback) =>
                    parameter.NamedArguments.FirstOrDefault(n => n.MemberName == name) is { MemberInfo: not null } found && found.TypedValue.Value is T value ? value : fallback;

                var position = Named("Position", int.MinValue);
                var propertyType = property.PropertyType;
                var underlying = propertyType.IsGenericType && propertyType.GetGenericTypeDefinition().FullName == "System.Nullable`1"
                    ? propertyType.GetGenericArguments()[0]
                    : propertyType;
                parameters.Add(new ParameterInfo(
                    property.Name,
                    underlying.Name,
                    underlying.FullName ?? underlying.Name,
                    underlying.FullName == "System.Management.Automation.SwitchParameter",
                    aliases,
                    Named("ParameterSetName", AllSets),
                    Named("Mandatory", false),
                    position == int.MinValue ? null : position,
                    Named("ValueFromPipeline", false),
                    Named("ValueFromPipelineByPropertyName", false)));
            }
        }

        return parameters;
    }

    public static bool IsAllSets(string set) => set == AllSets;
}

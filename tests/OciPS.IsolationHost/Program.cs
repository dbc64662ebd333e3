using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.Loader;

// Usage: OciPS.IsolationHost <module manifest> <working directory> <script>
// Loads this host's own (older) YamlDotNet and SharpCompress first, then imports the module and runs the
// script; prints each output object, then one line per loaded copy of those libraries.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: OciPS.IsolationHost <manifest> <working directory> <script>");
    return 2;
}

// Touch a type of each, so they are loaded in the default context before the module arrives.
_ = typeof(YamlDotNet.Serialization.Deserializer).Assembly;
_ = typeof(SharpCompress.Archives.ArchiveFactory).Assembly;

var state = InitialSessionState.CreateDefault2();
using var runspace = RunspaceFactory.CreateRunspace(state);
runspace.Open();
runspace.SessionStateProxy.Path.SetLocation(args[1]);
using (var import = PowerShell.Create())
{
    import.Runspace = runspace;
    import.AddCommand("Import-Module").AddParameter("Name", args[0]).AddParameter("ErrorAction", "Stop").Invoke();
}

using var shell = PowerShell.Create();
shell.Runspace = runspace;
shell.AddScript(args[2]);
var failed = false;
try
{
    foreach (var item in shell.Invoke())
    {
        Console.WriteLine("output: " + item);
    }
}
catch (RuntimeException ex)
{
    Console.WriteLine("error: " + ex.Message);
    failed = true;
}

foreach (var error in shell.Streams.Error)
{
    Console.WriteLine("error: " + error);
    failed = true;
}

foreach (var context in AssemblyLoadContext.All)
{
    foreach (var assembly in context.Assemblies.Where(a => a.GetName().Name is "ZstdSharp" or "YamlDotNet" or "SharpCompress"))
    {
        Console.WriteLine($"loaded: {assembly.GetName().Name} {assembly.GetName().Version} in {context.Name ?? "(unnamed)"}");
    }
}

return failed ? 1 : 0;

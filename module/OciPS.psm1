# Loads the cmdlets into OciPS's own AssemblyLoadContext so the libraries the module ships never
# collide with other versions loaded by other modules. Core cmdlets and .NET calls only, so the
# module also imports in minimal hosts.
$binPath = [System.IO.Path]::Combine($PSScriptRoot, 'bin')

if (-not ('OciPS.Loader.ModuleLoadContext' -as [type])) {
    $null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($binPath, 'OciPS.Loader.dll'))
}

$cmdletAssembly = [OciPS.Loader.ModuleLoadContext]::Initialize($binPath)
$innerModule = Import-Module -Assembly $cmdletAssembly -PassThru -ErrorAction Stop

$ExecutionContext.SessionState.Module.OnRemove = {
    Remove-Module -ModuleInfo $innerModule -ErrorAction SilentlyContinue
}.GetNewClosure()

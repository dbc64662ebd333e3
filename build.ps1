#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages OciPS.

.DESCRIPTION
    A wrapper around the same commands README.md gives for machines without PowerShell:
    `dotnet build` assembles the module in out/OciPS, `dotnet test` runs the xunit suites.

.PARAMETER Test
    Runs the xunit suites and the Pester suite (tests/Pester) after building.

.PARAMETER Package
    Makes the PowerShell Gallery package (.nupkg) in out/.

.PARAMETER Configuration
    Debug or Release.

.EXAMPLE
    ./build.ps1 -Test
#>
[CmdletBinding()]
param(
    [switch] $Test,
    [switch] $Package,
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug'
)

$ErrorActionPreference = 'Stop'
Set-Location -LiteralPath $PSScriptRoot

dotnet build OciPS.sln --configuration $Configuration
if ($LASTEXITCODE -ne 0) { throw "dotnet build failed ($LASTEXITCODE)." }

if ($Test) {
    dotnet test OciPS.sln --configuration $Configuration --no-build
    if ($LASTEXITCODE -ne 0) { throw "dotnet test failed ($LASTEXITCODE)." }

    if (-not (Get-Module -ListAvailable -Name Pester | Where-Object Version -ge '5.0')) {
        throw 'The Pester suite needs Pester 5: Install-Module Pester -MinimumVersion 5.0 -Scope CurrentUser'
    }
    $result = Invoke-Pester -Path (Join-Path $PSScriptRoot 'tests/Pester') -PassThru -Output Detailed
    if ($result.FailedCount -gt 0) { throw "$($result.FailedCount) Pester test(s) failed." }
}

if ($Package) {
    # The same packager the PackModule MSBuild target runs, so machines without pwsh get the same package.
    dotnet build (Join-Path $PSScriptRoot 'src/OciPS') --configuration $Configuration -t:PackModule "-p:PackageOutputPath=$(Join-Path $PSScriptRoot 'out')"
    if ($LASTEXITCODE -ne 0) { throw "packaging failed ($LASTEXITCODE)." }
    Get-ChildItem -Path (Join-Path $PSScriptRoot 'out') -Filter 'OciPS.*.nupkg'
}

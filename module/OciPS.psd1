@{
    RootModule           = 'OciPS.psm1'
    # Set by the build from Directory.Build.props (the one version source).
    ModuleVersion        = '0.0.0'
    GUID                 = '5b0f3c3e-8e8f-4b38-9d0a-3e2f4d7c1a60'
    Author               = 'OciPS contributors'
    CompanyName          = 'OciPS contributors'
    Copyright            = '(c) OciPS contributors. All rights reserved.'
    Description          = 'Pull, inspect, merge, build, convert and push OCI and Docker container images without a container engine: image locations, layers and files as pipeline objects; rootfs export to directories, tar, squashfs and ext4; image history as git; Dockerfile builds; OCI artifacts.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('OciPS.format.ps1xml')
    TypesToProcess       = @('OciPS.types.ps1xml')
    FunctionsToExport    = @()
    CmdletsToExport      = @(
        'Get-OciManifest'
        'Get-OciLayer'
        'Get-OciFile'
        'Merge-OciLayer'
        'Export-OciRootfs'
        'Test-OciRootfs'
        'Save-OciImage'
        'Copy-OciImage'
        'Get-OciTag'
        'Connect-OciRegistry'
        'Clear-OciCache'
        'ConvertTo-OciGitRepo'
        'New-OciImage'
        'Publish-OciArtifact'
        'Save-OciArtifact'
        'Start-OciRegistryProxy'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('OCI', 'Docker', 'Container', 'Image', 'Registry', 'Rootfs', 'SquashFS', 'Ext4', 'Git', 'Dockerfile', 'Linux', 'Windows', 'MacOS', 'PSEdition_Core')
            LicenseUri   = 'https://github.com/ocips/OciPS/blob/main/LICENSE'
            ProjectUri   = 'https://github.com/ocips/OciPS'
            ReleaseNotes = 'See https://github.com/ocips/OciPS/blob/main/CHANGELOG.md'
        }
    }
}

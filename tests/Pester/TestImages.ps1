# Builds small OCI image layouts for the Pester suite with nothing but PowerShell, .NET and tar, so
# the suite runs on any CI machine that has pwsh (no skopeo or umoci needed).

function New-TestLayer {
    param(
        [Parameter(Mandatory)] [string] $Root,
        [Parameter(Mandatory)] [hashtable] $Files
    )
    $stage = Join-Path $Root ('stage-' + [guid]::NewGuid().ToString('N'))
    foreach ($name in $Files.Keys) {
        $path = Join-Path $stage $name
        $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $path)
        [System.IO.File]::WriteAllText($path, [string]$Files[$name])
    }
    $tar = Join-Path $Root ('layer-' + [guid]::NewGuid().ToString('N') + '.tar')
    & tar -cf $tar -C $stage .
    if ($LASTEXITCODE -ne 0) { throw "tar failed ($LASTEXITCODE)" }
    Remove-Item -Recurse -Force $stage
    $tar
}

function Add-TestBlob {
    param(
        [Parameter(Mandatory)] [string] $Layout,
        [Parameter(Mandatory)] [byte[]] $Bytes
    )
    $hash = [System.Security.Cryptography.SHA256]::HashData($Bytes)
    $hex = [System.Convert]::ToHexString($hash).ToLowerInvariant()
    $blobs = Join-Path $Layout 'blobs/sha256'
    $null = New-Item -ItemType Directory -Force -Path $blobs
    [System.IO.File]::WriteAllBytes((Join-Path $blobs $hex), $Bytes)
    [pscustomobject]@{ Digest = "sha256:$hex"; Size = $Bytes.Length }
}

function ConvertTo-Gzip {
    param([Parameter(Mandatory)] [byte[]] $Bytes)
    $buffer = [System.IO.MemoryStream]::new()
    $gzip = [System.IO.Compression.GZipStream]::new($buffer, [System.IO.Compression.CompressionLevel]::Optimal, $true)
    $gzip.Write($Bytes, 0, $Bytes.Length)
    $gzip.Dispose()
    $buffer.ToArray()
}

function New-TestLayout {
    <#
        Writes an OCI layout at $Path whose image (tagged $Tag) has one layer per hashtable in
        $Layers (relative path => text; a '.wh.NAME' key makes a whiteout).
    #>
    param(
        [Parameter(Mandatory)] [string] $Path,
        [string] $Tag = '1.0',
        [Parameter(Mandatory)] [hashtable[]] $Layers,
        [string] $Architecture = 'amd64'
    )
    $null = New-Item -ItemType Directory -Force -Path $Path
    [System.IO.File]::WriteAllText((Join-Path $Path 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')

    $layerDescriptors = @()
    $diffIds = @()
    $history = @()
    foreach ($files in $Layers) {
        $tar = New-TestLayer -Root $Path -Files $files
        $tarBytes = [System.IO.File]::ReadAllBytes($tar)
        Remove-Item $tar
        $diffIds += 'sha256:' + [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($tarBytes)).ToLowerInvariant()
        $blob = Add-TestBlob -Layout $Path -Bytes (ConvertTo-Gzip $tarBytes)
        $layerDescriptors += [ordered]@{ mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'; digest = $blob.Digest; size = $blob.Size }
        $history += [ordered]@{ created = '2024-01-02T03:04:05Z'; created_by = 'COPY . /' }
    }
    $history += [ordered]@{ created = '2024-01-02T03:04:05Z'; created_by = 'CMD ["/bin/sh"]'; empty_layer = $true }

    $config = [ordered]@{
        created      = '2024-01-02T03:04:05Z'
        architecture = $Architecture
        os           = 'linux'
        config       = [ordered]@{ Env = @('PATH=/usr/bin:/bin'); Cmd = @('/bin/sh') }
        rootfs       = [ordered]@{ type = 'layers'; diff_ids = $diffIds }
        history      = $history
    }
    $configBlob = Add-TestBlob -Layout $Path -Bytes ([System.Text.Encoding]::UTF8.GetBytes(($config | ConvertTo-Json -Depth 10 -Compress)))
    $manifest = [ordered]@{
        schemaVersion = 2
        mediaType     = 'application/vnd.oci.image.manifest.v1+json'
        config        = [ordered]@{ mediaType = 'application/vnd.oci.image.config.v1+json'; digest = $configBlob.Digest; size = $configBlob.Size }
        layers        = $layerDescriptors
    }
    $manifestBlob = Add-TestBlob -Layout $Path -Bytes ([System.Text.Encoding]::UTF8.GetBytes(($manifest | ConvertTo-Json -Depth 10 -Compress)))
    $index = [ordered]@{
        schemaVersion = 2
        mediaType     = 'application/vnd.oci.image.index.v1+json'
        manifests     = @([ordered]@{
                mediaType   = 'application/vnd.oci.image.manifest.v1+json'
                digest      = $manifestBlob.Digest
                size        = $manifestBlob.Size
                annotations = @{ 'org.opencontainers.image.ref.name' = $Tag }
            })
    }
    [System.IO.File]::WriteAllText((Join-Path $Path 'index.json'), ($index | ConvertTo-Json -Depth 10 -Compress))
    [pscustomobject]@{ Path = $Path; Tag = $Tag; Digest = $manifestBlob.Digest }
}

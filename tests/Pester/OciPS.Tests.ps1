#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }

BeforeAll {
    $repositoryRoot = Resolve-Path (Join-Path $PSScriptRoot '../..')
    $manifest = Join-Path $repositoryRoot 'out/OciPS/OciPS.psd1'
    if (-not (Test-Path $manifest)) {
        throw "Build the module first (dotnet build OciPS.sln): $manifest is missing."
    }
    Import-Module $manifest -Force
    . (Join-Path $PSScriptRoot 'TestImages.ps1')

    $script:root = Join-Path ([System.IO.Path]::GetTempPath()) ('ocips-pester-' + [guid]::NewGuid().ToString('N'))
    $script:image = New-TestLayout -Path (Join-Path $script:root 'layout') -Tag '1.0' -Layers @(
        @{ 'etc/hello' = 'hi'; 'etc/old' = 'old' },
        @{ 'etc/.wh.old' = '' }
    )
}

AfterAll {
    Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue
    Remove-Module OciPS -ErrorAction SilentlyContinue
}

Describe 'The module' {
    It 'passes Test-ModuleManifest' {
        $info = Test-ModuleManifest -Path (Join-Path $repositoryRoot 'out/OciPS/OciPS.psd1')
        $info.PowerShellVersion | Should -Be ([version]'7.4')
    }

    It 'exports only cmdlets' {
        (Get-Command -Module OciPS).CommandType | Sort-Object -Unique | Should -Be 'Cmdlet'
    }
}

Describe 'Get-OciManifest' {
    It 'resolves an OCI layout tag to an image' {
        $result = Get-OciManifest "oci:$($script:image.Path):1.0"
        $result.GetType().FullName | Should -Be 'OciPS.Core.Model.OciImage'
        $result.Digest.ToString() | Should -Be $script:image.Digest
        $result.Layers.Count | Should -Be 2
    }

    It 'returns the stored JSON with -Raw' {
        $raw = Get-OciManifest "oci:$($script:image.Path):1.0" -Raw
        $hash = [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($raw))).ToLowerInvariant()
        "sha256:$hash" | Should -Be $script:image.Digest
    }

    It 'reports a missing tag with the tags there are' {
        { Get-OciManifest "oci:$($script:image.Path):nope" -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManifestNotFound,OciPS.Commands.GetOciManifestCommand'
    }

    It 'renders as a table' {
        $text = Get-OciManifest "oci:$($script:image.Path):1.0" | Out-String
        $text | Should -Match 'Reference'
        $text | Should -Match 'sha256:[0-9a-f]{12}\b'
    }
}

Describe 'Get-OciLayer' {
    It 'joins layers with history and flags empty steps' {
        $layers = Get-OciManifest "oci:$($script:image.Path):1.0" | Get-OciLayer
        $layers.Count | Should -Be 3
        ($layers | Where-Object EmptyLayer).CreatedBy | Should -Be 'CMD ["/bin/sh"]'
    }
}

Describe 'Get-OciFile' {
    It 'lists whiteouts typed as such' {
        $whiteouts = Get-OciManifest "oci:$($script:image.Path):1.0" | Get-OciLayer | Get-OciFile | Where-Object Type -eq Whiteout
        @($whiteouts).Count | Should -Be 1
        $whiteouts.Path | Should -Be 'etc/old'
        $whiteouts.LayerIndex | Should -Be 1
    }

    It 'filters by layer and path' {
        (Get-OciFile "oci:$($script:image.Path):1.0" -Layer 0 -Path 'etc/*').Path | Sort-Object | Should -Be @('etc/hello', 'etc/old')
    }
}

Describe 'Merge-OciLayer' {
    It 'applies whiteouts and lists each path once' {
        $paths = (Merge-OciLayer "oci:$($script:image.Path):1.0").Path | Sort-Object
        $paths | Should -Be @('etc', 'etc/hello')
    }
}

Describe 'Export-OciRootfs and Test-OciRootfs' {
    It 'writes a tar that Test-OciRootfs finds equal to the image' {
        $tar = Join-Path $script:root 'rootfs.tar'
        $file = Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Tar -Path $tar -PassThru
        $file.FullName | Should -Be $tar
        Test-OciRootfs $tar -Image "oci:$($script:image.Path):1.0" -Quiet | Should -BeTrue
    }

    It 'gives the same bytes twice with a SourceDateEpoch' {
        $a = Join-Path $script:root 'a.tar.gz'
        $b = Join-Path $script:root 'b.tar.gz'
        Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Tar -Compression Gzip -SourceDateEpoch 0 -Path $a
        Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Tar -Compression Gzip -SourceDateEpoch 0 -Path $b
        (Get-FileHash $a).Hash | Should -Be (Get-FileHash $b).Hash
    }

    It 'refuses to replace an existing output without -Force' {
        $tar = Join-Path $script:root 'exists.tar'
        Set-Content -Path $tar -Value 'keep me'
        { Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Tar -Path $tar -ErrorAction Stop } |
            Should -Throw -ErrorId 'OutputExists,OciPS.Commands.ExportOciRootfsCommand'
        Get-Content $tar | Should -Be 'keep me'
    }

    It 'reports what a filtered export left out' {
        $tar = Join-Path $script:root 'partial.tar'
        Merge-OciLayer "oci:$($script:image.Path):1.0" | Where-Object Path -ne 'etc/hello' | Export-OciRootfs -Format Tar -Path $tar
        $difference = Test-OciRootfs $tar -Image "oci:$($script:image.Path):1.0"
        $difference.Path | Should -Be 'etc/hello'
        $difference.Kind | Should -Be 'Missing'
    }

    It 'exports a directory on Linux' -Skip:(-not $IsLinux) {
        $directory = Join-Path $script:root 'rootfs'
        Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Directory -Path $directory -NoSameOwner
        Get-Content (Join-Path $directory 'etc/hello') | Should -Be 'hi'
        Test-Path (Join-Path $directory 'etc/old') | Should -BeFalse
    }
}

Describe 'Export-OciRootfs -Format SquashFs' {
    It 'writes a squashfs image, the same bytes twice with a SourceDateEpoch' {
        $a = Join-Path $script:root 'a.sqfs'
        $b = Join-Path $script:root 'b.sqfs'
        Export-OciRootfs "oci:$($script:image.Path):1.0" -Format SquashFs -BlockSize 64KB -SourceDateEpoch 0 -Path $a
        Export-OciRootfs "oci:$($script:image.Path):1.0" -Format SquashFs -BlockSize 64KB -SourceDateEpoch 0 -Path $b
        [System.Text.Encoding]::ASCII.GetString([System.IO.File]::ReadAllBytes($a), 0, 4) | Should -Be 'hsqs'
        (Get-FileHash $a).Hash | Should -Be (Get-FileHash $b).Hash
    }

    It 'refuses a block size with another format' {
        { Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Tar -BlockSize 65536 -Path (Join-Path $script:root 'x.tar') -ErrorAction Stop } |
            Should -Throw -ErrorId 'ExportParameterNotApplicable,OciPS.Commands.ExportOciRootfsCommand'
    }
}

Describe 'Export-OciRootfs -Format Ext4' {
    It 'writes an ext4 image of the requested size' {
        $target = Join-Path $script:root 'rootfs.ext4'
        $file = Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Ext4 -Size 32M -Label pester -Path $target -PassThru
        $file.Length | Should -Be 33554432
        $bytes = [System.IO.File]::ReadAllBytes($target)
        [System.BitConverter]::ToUInt16($bytes, 1024 + 0x38) | Should -Be 0xEF53
    }

    It 'refuses a label longer than 16 bytes' {
        { Export-OciRootfs "oci:$($script:image.Path):1.0" -Format Ext4 -Label 'a-label-of-17-byt' -Path (Join-Path $script:root 'x.ext4') -ErrorAction Stop } |
            Should -Throw -ErrorId 'Ext4LabelTooLong,OciPS.Commands.ExportOciRootfsCommand'
    }
}

Describe 'ConvertTo-OciGitRepo' {
    It 'writes one commit per history step and Image.md' {
        $repo = Join-Path $script:root 'git-repo'
        $result = ConvertTo-OciGitRepo "oci:$($script:image.Path):1.0" -Path $repo
        $result.Changed | Should -BeTrue
        $result.Commits.Count | Should -Be 4  # two layers, the CMD step, Image.md
        (git -C $repo ls-tree --name-only HEAD) | Should -Contain 'Image.md'
        (git -C $repo log --diff-filter=D --format=%H -- rootfs/etc/old) | Should -Be $result.Commits[1]
    }

    It 'changes nothing when the same image is converted again' {
        $repo = Join-Path $script:root 'git-repo'
        $again = ConvertTo-OciGitRepo "oci:$($script:image.Path):1.0" -Path $repo
        $again.Changed | Should -BeFalse
    }

    It 'checks the branch out with -Checkout, leaving git status clean' {
        $repo = Join-Path $script:root 'git-checkout'
        ConvertTo-OciGitRepo "oci:$($script:image.Path):1.0" -Path $repo -Checkout | Out-Null
        Test-Path (Join-Path $repo 'Image.md') | Should -BeTrue
        (git -C $repo status --porcelain) | Should -BeNullOrEmpty
    }

    It 'writes nothing with -WhatIf' {
        $repo = Join-Path $script:root 'git-whatif'
        ConvertTo-OciGitRepo "oci:$($script:image.Path):1.0" -Path $repo -WhatIf
        Test-Path $repo | Should -BeFalse
    }
}

Describe 'New-OciImage' {
    BeforeAll {
        $script:context = Join-Path $script:root 'build-context'
        New-Item -ItemType Directory -Path $script:context -Force | Out-Null
        Set-Content -Path (Join-Path $script:context 'app.txt') -Value 'app'
    }

    It 'adds a layer on top of a base image' {
        Set-Content -Path (Join-Path $script:context 'Dockerfile') -Value "FROM oci:$($script:image.Path):1.0`nCOPY app.txt /srv/`nCMD [`"/srv/app.txt`"]"
        $built = New-OciImage -Path $script:context -Destination "oci:$(Join-Path $script:root 'built'):app" -PassThru
        $built.LayerCount | Should -Be 3
        $built.Config.Config.Cmd | Should -Be @('/srv/app.txt')
    }

    It 'gives the same digest twice with a SourceDateEpoch' {
        Set-Content -Path (Join-Path $script:context 'Dockerfile') -Value "FROM scratch`nCOPY app.txt /"
        $first = New-OciImage $script:context "oci:$(Join-Path $script:root 'repro'):a" -SourceDateEpoch 1 -PassThru
        $second = New-OciImage $script:context "oci:$(Join-Path $script:root 'repro'):b" -SourceDateEpoch 1 -PassThru
        $second.Digest | Should -Be $first.Digest
    }

    It 'refuses RUN with the line number' {
        Set-Content -Path (Join-Path $script:context 'Dockerfile') -Value "FROM scratch`nRUN make"
        { New-OciImage $script:context "oci:$(Join-Path $script:root 'never')" -ErrorAction Stop } |
            Should -Throw -ErrorId 'DockerfileInstructionUnsupported,OciPS.Commands.NewOciImageCommand'
    }
}

Describe 'Publish-OciArtifact and Save-OciArtifact' {
    BeforeAll {
        $script:artifactRoot = Join-Path $script:root 'artifact'
        New-Item -ItemType Directory -Force -Path (Join-Path $script:artifactRoot 'data/sub') | Out-Null
        Set-Content -Path (Join-Path $script:artifactRoot 'config.tmpl') -Value 'port: 80' -NoNewline
        Set-Content -Path (Join-Path $script:artifactRoot 'data/sub/a.txt') -Value 'alpha' -NoNewline
        Set-Content -Path (Join-Path $script:artifactRoot 'pack.yaml') -Value @'
type: application/vnd.example.pester
annotations:
  channel: ${OCIPS_PESTER_CHANNEL:-stable}
items:
  - from: file://config.tmpl
    type: application/vnd.example.template
  - from: dir://data
'@
        $script:packFile = Join-Path $script:artifactRoot 'pack.yaml'
    }

    It 'publishes an OCI 1.1 artifact with its artifactType, annotations and layers' {
        $published = Publish-OciArtifact $script:packFile "oci:$($script:artifactRoot)/out:v1" -PassThru
        $published.ArtifactType | Should -Be 'application/vnd.example.pester'
        $published.Layers.Count | Should -Be 2
        $published.Manifest.Manifest.Annotations['channel'] | Should -Be 'stable'
        $published.Layers[1].Annotations['io.deis.oras.content.unpack'] | Should -Be 'true'
    }

    It 'gives the same digest for the same pack file' {
        $a = Publish-OciArtifact $script:packFile "oci:$($script:artifactRoot)/out:a" -PassThru
        $b = Publish-OciArtifact $script:packFile "oci:$($script:artifactRoot)/out:b" -PassThru
        $a.Digest.ToString() | Should -Be $b.Digest.ToString()
    }

    It 'writes nothing with -WhatIf' {
        Publish-OciArtifact $script:packFile "oci:$($script:artifactRoot)/whatif:v1" -WhatIf
        Test-Path (Join-Path $script:artifactRoot 'whatif') | Should -BeFalse
    }

    It 'reports every pack file problem with its line' {
        $bad = Join-Path $script:artifactRoot 'bad.yaml'
        Set-Content -Path $bad -Value "items:`n  - from: ftp://x/y`n  - from: missing.bin`n"
        Publish-OciArtifact $bad "oci:$($script:artifactRoot)/bad" -ErrorVariable failure -ErrorAction SilentlyContinue
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'PackFileInvalid,*'
        $failure[0].Exception.Message | Should -Match 'bad\.yaml:2:11:'
        $failure[0].Exception.Message | Should -Match 'bad\.yaml:3:11:'
    }

    It 'restores the files bit-identically' {
        Publish-OciArtifact $script:packFile "oci:$($script:artifactRoot)/out:v1"
        $target = Join-Path $script:artifactRoot 'pulled'
        $saved = Save-OciArtifact "oci:$($script:artifactRoot)/out:v1" -Path $target -PassThru
        $saved.Name | Should -Be @('config.tmpl', 'data')
        (Get-FileHash (Join-Path $target 'config.tmpl')).Hash | Should -Be (Get-FileHash (Join-Path $script:artifactRoot 'config.tmpl')).Hash
        Get-Content -Raw (Join-Path $target 'data/sub/a.txt') | Should -Be 'alpha'
    }
}

Describe 'Start-OciRegistryProxy' {
    It 'serves a layout as a job that Stop-Job ends' {
        $proxy = Start-OciRegistryProxy $script:image.Path -Name pester/app
        try {
            $proxy.State | Should -Be 'Running'
            $info = Receive-Job $proxy
            $info.Repository | Should -Be "127.0.0.1:$($info.Port)/pester/app"
            $tags = Invoke-RestMethod "http://$($info.Host)/v2/pester/app/tags/list"
            $tags.tags | Should -Contain '1.0'
        }
        finally {
            Stop-Job $proxy
        }
        (Get-Job -Id $proxy.Id).State | Should -Be 'Stopped'
        Remove-Job $proxy
    }
}

Describe 'Save-OciImage and Copy-OciImage' {
    It 'copies a layout to another layout keeping the digest' {
        $destination = Join-Path $script:root 'copied'
        $result = Copy-OciImage "oci:$($script:image.Path):1.0" "oci:${destination}:1.0" -PassThru
        $result.Digest.ToString() | Should -Be $script:image.Digest
        (Get-OciManifest "oci:${destination}:1.0").Digest.ToString() | Should -Be $script:image.Digest
    }

    It 'saves a docker archive that reads back with the same layers' {
        $archive = Join-Path $script:root 'saved.tar'
        Save-OciImage "oci:$($script:image.Path):1.0" -Destination "docker-archive:${archive}:pester/app:1.0" -Force
        (Get-OciManifest "docker-archive:$archive").LayerCount | Should -Be 2
    }

    It 'converts to Docker media types on request' {
        $destination = Join-Path $script:root 'docker-types'
        $result = Copy-OciImage "oci:$($script:image.Path):1.0" "oci:${destination}:1.0" -Format Docker -PassThru
        $result.MediaType | Should -Be 'application/vnd.docker.distribution.manifest.v2+json'
    }
}

Describe 'Clear-OciCache and Connect-OciRegistry' {
    It 'changes nothing with -WhatIf' {
        $cache = Join-Path $script:root 'cache'
        New-Item -ItemType Directory -Path (Join-Path $cache 'blobs/sha256') -Force | Out-Null
        Set-Content -Path (Join-Path $cache 'blobs/sha256/0000') -Value 'x'
        (Clear-OciCache $cache -WhatIf -PassThru).BlobsRemoved | Should -Be 0
        Test-Path (Join-Path $cache 'blobs/sha256/0000') | Should -BeTrue
    }

    It 'stores credentials without checking them in a given file' {
        $file = Join-Path $script:root 'auth.json'
        $credential = [pscredential]::new('me', (ConvertTo-SecureString 'pw' -AsPlainText -Force))
        Connect-OciRegistry registry.example.com -Credential $credential -NoVerify -AuthFile $file
        (Get-Content $file -Raw | ConvertFrom-Json).auths.'registry.example.com'.auth | Should -Be 'bWU6cHc='
    }
}

Describe 'Registry connection parameters' {
    It 'gives every registry cmdlet the same connection parameters' {
        foreach ($name in 'Get-OciManifest', 'Save-OciImage', 'Copy-OciImage', 'Get-OciTag', 'Connect-OciRegistry', 'Export-OciRootfs', 'New-OciImage') {
            $parameters = (Get-Command $name).Parameters
            foreach ($parameter in 'AllowInsecure', 'SkipCertificateCheck', 'CaCertificate', 'Proxy', 'Timeout', 'MaxRetry') {
                $parameters.ContainsKey($parameter) | Should -BeTrue -Because "$name -$parameter"
            }
        }
    }

    It 'gives Copy-OciImage and New-OciImage settings per side' {
        foreach ($name in 'Copy-OciImage', 'New-OciImage') {
            $parameters = (Get-Command $name).Parameters
            foreach ($parameter in 'SourceProxy', 'DestinationProxy', 'SourceCaCertificate', 'DestinationSkipCertificateCheck', 'SourceCredential', 'DestinationAllowInsecure') {
                $parameters.ContainsKey($parameter) | Should -BeTrue -Because "$name -$parameter"
            }
        }
    }

    It 'times out quickly on a registry that does not listen' {
        $cache = Join-Path $script:root 'timeout-cache'
        { Get-OciManifest '127.0.0.1:9/nothing/here:1' -CachePath $cache -Timeout 2 -MaxRetry 0 -ErrorAction Stop } |
            Should -Throw -ErrorId 'RegistryUnreachable,OciPS.Commands.GetOciManifestCommand'
    }
}

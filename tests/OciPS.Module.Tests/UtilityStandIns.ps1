# The hosted PowerShell engine (the System.Management.Automation package) has only the core cmdlets.
# The docs' examples also use a few everyday Utility cmdlets; these stand-ins do what the examples
# need of them so the examples can run here. On a real pwsh the real cmdlets are used.

function Select-Object {
    param(
        [Parameter(Position = 0)] [object[]] $Property,
        [int] $First = -1,
        [int] $Last = -1,
        [int] $Skip = 0,
        [string] $ExpandProperty,
        [Parameter(ValueFromPipeline)] [object] $InputObject
    )
    begin { $items = [System.Collections.Generic.List[object]]::new() }
    process { if ($null -ne $InputObject) { $items.Add($InputObject) } }
    end {
        $selected = @($items | ForEach-Object { $_ })
        if ($Skip -gt 0) { $selected = @($selected | Where-Object { $true } | ForEach-Object -Begin { $i = 0 } -Process { if ($i++ -ge $Skip) { $_ } }) }
        if ($First -ge 0) { $selected = @($selected)[0..([Math]::Min($First, $selected.Count) - 1)] | Where-Object { $null -ne $_ } }
        if ($Last -ge 0) { $selected = @($selected)[([Math]::Max(0, $selected.Count - $Last))..($selected.Count - 1)] }
        foreach ($item in $selected) {
            if ($ExpandProperty) { $item.$ExpandProperty; continue }
            if (-not $Property) { $item; continue }
            $result = [ordered]@{}
            foreach ($p in $Property) {
                if ($p -is [hashtable]) { $result[$p.Name] = & $p.Expression $item }
                else { $result[[string]$p] = $item.$p }
            }
            [pscustomobject]$result
        }
    }
}

function Sort-Object {
    param(
        [Parameter(Position = 0)] [object[]] $Property,
        [switch] $Descending,
        [switch] $Unique,
        [Parameter(ValueFromPipeline)] [object] $InputObject
    )
    begin { $items = [System.Collections.Generic.List[object]]::new() }
    process { if ($null -ne $InputObject) { $items.Add($InputObject) } }
    end {
        $key = {
            param($item)
            if (-not $Property) { return $item }
            $p = $Property[0]
            if ($p -is [scriptblock]) { return & $p $item }
            return $item.$p
        }
        $comparer = [System.Collections.Comparer]::DefaultInvariant
        $sorted = [System.Linq.Enumerable]::ToList([object[]]$items)
        $sorted.Sort([System.Comparison[object]] {
                param($a, $b)
                $c = $comparer.Compare((& $key $a), (& $key $b))
                if ($Descending) { -$c } else { $c }
            })
        $previous = $null
        foreach ($item in $sorted) {
            if ($Unique -and $null -ne $previous -and $comparer.Compare((& $key $item), (& $key $previous)) -eq 0) { continue }
            $previous = $item
            $item
        }
    }
}

function Measure-Object {
    param(
        [Parameter(Position = 0)] [string] $Property,
        [switch] $Sum,
        [Parameter(ValueFromPipeline)] [object] $InputObject
    )
    begin { $count = 0; $total = 0.0 }
    process { if ($null -ne $InputObject) { $count++; if ($Property) { $total += [double]$InputObject.$Property } } }
    end { [pscustomobject]@{ Count = $count; Sum = if ($Sum) { $total } else { $null }; Property = $Property } }
}

function Group-Object {
    param(
        [Parameter(Position = 0)] [string] $Property,
        [Parameter(ValueFromPipeline)] [object] $InputObject
    )
    begin { $groups = [ordered]@{} }
    process {
        $name = [string]$InputObject.$Property
        if (-not $groups.Contains($name)) { $groups[$name] = [System.Collections.Generic.List[object]]::new() }
        $groups[$name].Add($InputObject)
    }
    end { foreach ($name in $groups.Keys) { [pscustomobject]@{ Count = $groups[$name].Count; Name = $name; Group = $groups[$name] } } }
}

function Format-Table { param([Parameter(ValueFromRemainingArguments)] $Rest, [Parameter(ValueFromPipeline)] $InputObject) process { $InputObject } }
function Format-List { param([Parameter(ValueFromRemainingArguments)] $Rest, [Parameter(ValueFromPipeline)] $InputObject) process { $InputObject } }

# New-Item and Set-Content (Management) for the examples that write a build context.
function New-Item {
    param(
        [Parameter(Position = 0)] [string] $Path,
        [string] $ItemType = 'File',
        [switch] $Force
    )
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    if ($ItemType -eq 'Directory') { [System.IO.Directory]::CreateDirectory($full) }
    else { [System.IO.File]::WriteAllText($full, ''); [System.IO.FileInfo]::new($full) }
}

function Set-Content {
    param(
        [Parameter(Position = 0)] [string] $Path,
        [Parameter(Position = 1)] [object[]] $Value
    )
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    [System.IO.File]::WriteAllText($full, (($Value | ForEach-Object { [string]$_ }) -join "`n") + "`n")
}

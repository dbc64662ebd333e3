namespace OciPS.Core.Registry;

/// <summary>A tag of a registry repository (Get-OciTag's output); <see cref="Image"/> pipes into the other cmdlets.</summary>
public sealed record OciTag(string Repository, string Tag)
{
    /// <summary>The full reference, <c>registry/repository:tag</c>.</summary>
    public string Image => Repository + ":" + Tag;

    public override string ToString() => Image;
}

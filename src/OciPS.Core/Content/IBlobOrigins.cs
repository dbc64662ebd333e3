using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>
/// A source made of several others (a built image: new blobs staged locally, base layers still in the
/// base's source). Copies ask it where a blob really lives, so a base layer in a registry can be
/// mounted across repositories instead of read and sent.
/// </summary>
public interface IBlobOrigins
{
    /// <summary>The source that holds the blob, or null when the composite holds it itself.</summary>
    IImageSource? SourceOf(Digest digest);
}

namespace OciPS.Core.Model;

/// <summary>
/// The bytes of a file entry carried down a pipeline: read as they stream by when the entry goes
/// straight to a sink, or read again from where they came from when the entry is used later.
/// </summary>
public abstract class EntryContent
{
    /// <summary>Whether the bytes are still streaming by (cheap to read once, now).</summary>
    public abstract bool IsLive { get; }

    /// <summary>A stream of the bytes: the live one when it still is, else a new read from the origin (slow).</summary>
    public abstract Task<Stream> OpenAsync(CancellationToken cancellationToken);
}

/// <summary>A stream that knows whether it can still be read (an entry's content, before the reader moves on).</summary>
public interface ILiveStream
{
    bool IsLive { get; }
}

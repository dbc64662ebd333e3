namespace OciPS.Core.Content;

/// <summary>
/// A content stream whose next bytes can be written straight from where they already are (a read-ahead
/// block), saving the copy into the writer's buffer. <see cref="Stream.ReadAsync(Memory{byte}, CancellationToken)"/>
/// still works and is what to use when <see cref="Peek"/> gives nothing.
/// </summary>
internal interface ILendingStream
{
    /// <summary>Up to <paramref name="max"/> of the next bytes, ready now; empty when they must be waited for, are a hole, or the content ended. Valid until <see cref="Consume"/>.</summary>
    ReadOnlySpan<byte> Peek(int max);

    /// <summary>Marks the first <paramref name="count"/> bytes of <see cref="Peek"/> as read.</summary>
    void Consume(int count);

    /// <summary>Waits until <see cref="Peek"/> may have bytes again; false when it will not (read on to find out why).</summary>
    ValueTask<bool> WaitAsync(CancellationToken cancellationToken);
}

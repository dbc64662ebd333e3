using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace OciPS.Infrastructure;

/// <summary>
/// Runs a cmdlet's work as a task while the pipeline thread drains a queue of requests
/// (WriteObject, WriteError, WriteProgress, ShouldProcess…): the engine stays async all the way down
/// and nothing blocks on a task. Everything PowerShell-specific (paths, session state) is resolved on
/// the pipeline thread before the work starts.
/// </summary>
public abstract class AsyncPSCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private BlockingCollection<Request>? _requests;
    private bool _disposed;

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
    protected CancellationToken StopToken => _stopping.Token;

    /// <summary>
    /// Runs <paramref name="work"/> on a task and serves its requests on this (the pipeline) thread
    /// until it finishes; its exception, if any, is rethrown here.
    /// </summary>
    protected void RunAsync(Func<CancellationToken, Task> work)
    {
        using var requests = new BlockingCollection<Request>();
        _requests = requests;
        ExceptionDispatchInfo? failure = null;
        _ = Task.Run(async () =>
        {
            try
            {
                await work(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
            finally
            {
                requests.CompleteAdding();
            }
        });

        // Every request is served until the work ends, also after one failed: the work may be waiting
        // on a later one. A failed write (the pipeline was stopped) cancels the work instead.
        ExceptionDispatchInfo? pipelineFailure = null;
        foreach (var request in requests.GetConsumingEnumerable())
        {
            try
            {
                request.Execute(this);
            }
            catch (Exception ex)
            {
                pipelineFailure ??= ExceptionDispatchInfo.Capture(ex);
                _stopping.Cancel();
            }
        }

        _requests = null;
        pipelineFailure?.Throw();
        if (failure is null)
        {
            return;
        }

        if (_stopping.IsCancellationRequested && failure.SourceException is OperationCanceledException or PipelineStoppedException)
        {
            throw new PipelineStoppedException();
        }

        failure.Throw();
    }

    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Writes an object and waits until the rest of the pipeline has processed it.</summary>
    protected Task EmitAsync(object? value) => Enqueue(cmdlet => cmdlet.WriteObject(value));

    /// <summary>Writes a non-terminating error.</summary>
    protected Task EmitErrorAsync(ErrorRecord error) => Enqueue(cmdlet => cmdlet.WriteError(error));

    protected void Verbose(string message) => Post(cmdlet => cmdlet.WriteVerbose(message));

    protected void Warning(string message) => Post(cmdlet => cmdlet.WriteWarning(message));

    protected void Debug(string message) => Post(cmdlet => cmdlet.WriteDebug(message));

    protected void Progress(ProgressRecord record) => Post(cmdlet => cmdlet.WriteProgress(record));

    /// <summary>Asks ShouldProcess on the pipeline thread (WhatIf/Confirm) and returns the answer.</summary>
    protected Task<bool> ShouldProcessAsync(string target, string action)
    {
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(cmdlet =>
        {
            try
            {
                answer.SetResult(cmdlet.ShouldProcess(target, action));
            }
            catch (Exception ex)
            {
                answer.SetException(ex);
            }
        });
        return answer.Task;
    }

    private Task Enqueue(Action<AsyncPSCmdlet> action)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(cmdlet =>
        {
            try
            {
                action(cmdlet);
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task;
    }

    private void Post(Action<AsyncPSCmdlet> action)
    {
        var requests = _requests ?? throw new InvalidOperationException("Pipeline requests are only possible while RunAsync runs.");
        requests.Add(new Request(action));
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _stopping.Dispose();
        }

        _disposed = true;
    }

    private sealed class Request(Action<AsyncPSCmdlet> action)
    {
        public void Execute(AsyncPSCmdlet cmdlet) => action(cmdlet);
    }
}

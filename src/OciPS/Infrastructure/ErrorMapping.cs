using System;
using System.IO;
using System.Management.Automation;
using OciPS.Core;

namespace OciPS.Infrastructure;

/// <summary>
/// Turns engine exceptions into ErrorRecords: the engine's error id, a category, and as target the input
/// being processed (the engine's own target when the cmdlet has none).
/// </summary>
internal static class ErrorMapping
{
    public static ErrorRecord ToErrorRecord(Exception exception, object? target)
    {
        return exception switch
        {
            OciException oci => new ErrorRecord(oci, oci.ErrorId, Category(oci.Kind), target ?? oci.Target),
            FormatException format => new ErrorRecord(format, "ArgumentInvalid", ErrorCategory.InvalidArgument, target),
            UnauthorizedAccessException denied => new ErrorRecord(denied, "PathAccessDenied", ErrorCategory.PermissionDenied, target),
            FileNotFoundException missing => new ErrorRecord(missing, "PathNotFound", ErrorCategory.ObjectNotFound, target),
            DirectoryNotFoundException missing => new ErrorRecord(missing, "PathNotFound", ErrorCategory.ObjectNotFound, target),
            IOException io => new ErrorRecord(io, "IOError", ErrorCategory.ReadError, target),
            _ => new ErrorRecord(exception, "UnexpectedError", ErrorCategory.NotSpecified, target),
        };
    }

    /// <summary>Whether an exception is a failure of one input (reported, the next input goes on) rather than of the cmdlet.</summary>
    public static bool IsPerInput(Exception exception) =>
        exception is OciException or FormatException or IOException or UnauthorizedAccessException;

    private static ErrorCategory Category(OciErrorKind kind) => kind switch
    {
        OciErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        OciErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        OciErrorKind.InvalidData => ErrorCategory.InvalidData,
        OciErrorKind.NotSupported => ErrorCategory.NotImplemented,
        OciErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        OciErrorKind.Authentication => ErrorCategory.AuthenticationError,
        OciErrorKind.Connection => ErrorCategory.ConnectionError,
        OciErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        OciErrorKind.Security => ErrorCategory.SecurityError,
        OciErrorKind.LimitsExceeded => ErrorCategory.LimitsExceeded,
        OciErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        _ => ErrorCategory.NotSpecified,
    };
}

namespace OciPS.Core.Registry;

/// <summary>The registry refused the credentials, or the operation needs credentials it does not have.</summary>
public sealed class RegistryAuthenticationException(string registry, string message)
    : OciException("RegistryAuthenticationFailed", OciErrorKind.Authentication, message, registry);

/// <summary>The registry could not be reached, or kept failing after the retries.</summary>
public sealed class RegistryConnectionException(string registry, string message, Exception? inner = null)
    : OciException("RegistryUnreachable", OciErrorKind.Connection, message, registry, inner);

/// <summary>The registry answered with an error that is not about authentication or a missing thing.</summary>
public sealed class RegistryRequestException(string errorId, string target, string message, int statusCode, string? registryCode = null)
    : OciException(errorId, statusCode is 400 or 405 or 413 or 415 ? OciErrorKind.InvalidArgument : OciErrorKind.InvalidData, message, target)
{
    /// <summary>The HTTP status the registry answered with.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>The distribution error code (<c>MANIFEST_INVALID</c>, <c>BLOB_UPLOAD_INVALID</c>…), when the registry sent one.</summary>
    public string? RegistryCode { get; } = registryCode;
}

/// <summary>The registry's TLS certificate is not trusted (unknown CA, wrong name, expired).</summary>
public sealed class RegistryCertificateException(string registry, string message, Exception? inner = null)
    : OciException("RegistryCertificateUntrusted", OciErrorKind.Security, message, registry, inner);

/// <summary>A transport setting that cannot be used (a CA file that is missing or holds no certificate).</summary>
public sealed class RegistryOptionsException(string errorId, string message, object? target, Exception? inner = null)
    : OciException(errorId, OciErrorKind.InvalidArgument, message, target, inner);

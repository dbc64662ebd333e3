using System;
using System.Management.Automation;
using OciPS.Core.Registry;

namespace OciPS.Infrastructure;

/// <summary>
/// The settings of one side of a transfer that differ from the other (Copy-OciImage's and
/// New-OciImage's -Source*/-Destination* parameters); null members fall back to the unprefixed ones.
/// </summary>
internal sealed record RegistrySide(
    PSCredential? Credential = null,
    Uri? Proxy = null,
    bool? AllowInsecure = null,
    string? CaCertificate = null,
    bool? SkipCertificateCheck = null);

/// <summary>
/// How to reach registries, shared by every cmdlet that talks to one: plain HTTP, TLS trust, proxy,
/// timeout and retries. Turned into <see cref="RegistryOptions"/> in one place, so a new setting is
/// wired once for all of them.
/// </summary>
public abstract class RegistryConnectionCmdlet : OciCmdlet
{
    /// <summary>Talks plain HTTP to registries (loopback registries get it without asking).</summary>
    [Parameter]
    public SwitchParameter AllowInsecure { get; set; }

    /// <summary>Accepts any TLS certificate.</summary>
    [Parameter]
    [Alias("SkipTlsVerify")]
    public SwitchParameter SkipCertificateCheck { get; set; }

    /// <summary>A PEM file of CA certificates trusted for registry TLS, in addition to the system's.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CaCertificate { get; set; }

    /// <summary>An HTTP or SOCKS5 proxy (default: HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY).</summary>
    [Parameter]
    public Uri? Proxy { get; set; }

    /// <summary>How long a request may wait for an answer, or a download for its next bytes (a number is seconds).</summary>
    [Parameter]
    [SecondsToTimeSpan]
    [ValidateTimeout]
    public TimeSpan? Timeout { get; set; }

    /// <summary>How many times a request is retried after a connection fault, a timeout, a 429 or a 5xx.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int? MaxRetry { get; set; }

    /// <summary>Registry options with the given credential and this call's settings (a side's own settings first).</summary>
    internal RegistryOptions ConnectionOptions(PSCredential? credential, RegistrySide? side = null)
    {
        var defaults = RegistryOptions.Default;
        var caCertificate = side?.CaCertificate ?? CaCertificate;
        credential = side?.Credential ?? credential;
        return defaults with
        {
            Credential = credential is null ? null : new RegistryCredential(credential.UserName, credential.GetNetworkCredential().Password),
            AllowInsecure = side?.AllowInsecure ?? AllowInsecure.IsPresent,
            SkipTlsVerify = side?.SkipCertificateCheck ?? SkipCertificateCheck.IsPresent,
            CaCertificateFile = caCertificate is null ? null : ResolvePath(caCertificate),
            Proxy = side?.Proxy ?? Proxy,
            Timeout = Timeout ?? defaults.Timeout,
            MaxRetries = MaxRetry ?? defaults.MaxRetries,
        };
    }

    /// <summary>Whether a parameter was given (a switch given as -X:$false counts, and overrides the unprefixed one).</summary>
    private protected bool? Bound(string name, SwitchParameter value) =>
        MyInvocation.BoundParameters.ContainsKey(name) ? value.IsPresent : null;
}

/// <summary>Lets -Timeout take seconds (30, 0.5) as well as a TimeSpan ('00:01:00', [timespan]::FromMinutes(1)).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SecondsToTimeSpanAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        return value switch
        {
            int or long or short or byte or uint or ulong or ushort or sbyte => TimeSpan.FromSeconds(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
            double or float or decimal => TimeSpan.FromSeconds(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
            string text when double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) => TimeSpan.FromSeconds(seconds),
            _ => inputData,
        };
    }
}

/// <summary>A timeout is positive (and below a day, which is a mistake for seconds as ticks or hours).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class ValidateTimeoutAttribute : ValidateArgumentsAttribute
{
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        if (arguments is TimeSpan timeout && (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(1)))
        {
            throw new ValidationMetadataException($"The timeout {timeout} is not between 0 and one day; give seconds (30) or a TimeSpan ('00:00:30').");
        }
    }
}

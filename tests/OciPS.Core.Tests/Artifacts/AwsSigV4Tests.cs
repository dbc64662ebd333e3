using OciPS.Core.Artifacts;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

/// <summary>
/// The SigV4 signer against the worked examples of the AWS documentation ("Examples: Signature
/// Calculations in AWS Signature Version 4" for S3, and the signing-key derivation example). s3rver
/// checks the access key but not v4 signatures, so these vectors are what proves the signing.
/// </summary>
public sealed class AwsSigV4Tests
{
    private const string S3ExampleKey = "AKIAIOSFODNN7EXAMPLE";
    private const string S3ExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    [Fact]
    public void Get_object_with_a_range_signs_as_in_the_s3_documentation()
    {
        var authorization = AwsSigV4.Authorization(
            S3ExampleKey,
            S3ExampleSecret,
            "us-east-1",
            "s3",
            "20130524T000000Z",
            "GET",
            "/test.txt",
            string.Empty,
            [
                new("Host", "examplebucket.s3.amazonaws.com"),
                new("Range", "bytes=0-9"),
                new("x-amz-content-sha256", AwsSigV4.EmptyPayloadHash),
                new("x-amz-date", "20130524T000000Z"),
            ],
            AwsSigV4.EmptyPayloadHash);

        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            authorization);
    }

    [Fact]
    public void The_canonical_request_of_the_get_object_example_has_sorted_lower_case_headers()
    {
        var (canonical, signed) = AwsSigV4.CanonicalRequest(
            "GET",
            "/test.txt",
            string.Empty,
            [new("x-amz-date", "20130524T000000Z"), new("Range", "  bytes=0-9 "), new("Host", "examplebucket.s3.amazonaws.com"), new("x-amz-content-sha256", AwsSigV4.EmptyPayloadHash)],
            AwsSigV4.EmptyPayloadHash);
        Assert.Equal("host;range;x-amz-content-sha256;x-amz-date", signed);
        Assert.Equal(
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            canonical);
    }

    [Fact]
    public void The_signing_key_derivation_matches_the_documented_example()
    {
        var key = AwsSigV4.SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
        Assert.Equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", AwsSigV4.Hex(key));
    }

    [Theory]
    [InlineData("tools/tool.bin", "tools/tool.bin")]
    [InlineData("a b/ü+=.txt", "a%20b/%C3%BC%2B%3D.txt")]
    [InlineData("x~y_z-1", "x~y_z-1")]
    public void Keys_are_uri_encoded_once_with_slashes_kept(string key, string encoded) =>
        Assert.Equal(encoded, AwsSigV4.EncodePath(key));

    [Fact]
    public void Objects_are_addressed_path_style_on_an_endpoint_and_virtual_hosted_on_aws()
    {
        var aws = new S3Settings { AccessKeyId = "k", SecretAccessKey = "s", Region = "eu-west-1" };
        Assert.Equal("https://bucket.s3.eu-west-1.amazonaws.com/a/b.txt", aws.ObjectUrl("bucket", "a/b.txt").ToString());
        Assert.Equal("https://s3.eu-west-1.amazonaws.com/my.bucket/a/b.txt", aws.ObjectUrl("my.bucket", "a/b.txt").ToString());
        var minio = aws with { Endpoint = new Uri("http://127.0.0.1:9000") };
        Assert.Equal("http://127.0.0.1:9000/bucket/a%20b.txt", minio.ObjectUrl("bucket", "a b.txt").AbsoluteUri);
    }

    [Fact]
    public void A_get_request_carries_the_date_the_payload_hash_the_token_and_a_signature_over_them()
    {
        var settings = new S3Settings { AccessKeyId = S3ExampleKey, SecretAccessKey = S3ExampleSecret, SessionToken = "token/1", Endpoint = new Uri("http://127.0.0.1:4568") };
        using var request = settings.GetObjectRequest("bucket", "key.bin", new DateTimeOffset(2013, 5, 24, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal("20130524T000000Z", request.Headers.GetValues("x-amz-date").Single());
        Assert.Equal(AwsSigV4.EmptyPayloadHash, request.Headers.GetValues("x-amz-content-sha256").Single());
        Assert.Equal("token/1", request.Headers.GetValues("x-amz-security-token").Single());
        var expected = AwsSigV4.Authorization(
            S3ExampleKey, S3ExampleSecret, "us-east-1", "s3", "20130524T000000Z", "GET", "/bucket/key.bin", string.Empty,
            [new("host", "127.0.0.1:4568"), new("x-amz-content-sha256", AwsSigV4.EmptyPayloadHash), new("x-amz-date", "20130524T000000Z"), new("x-amz-security-token", "token/1")],
            AwsSigV4.EmptyPayloadHash);
        Assert.Equal(expected, request.Headers.GetValues("Authorization").Single());
        Assert.Contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,", expected, StringComparison.Ordinal);
    }
}

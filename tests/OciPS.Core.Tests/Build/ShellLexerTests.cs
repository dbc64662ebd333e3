using OciPS.Core.Build.Dockerfile;
using Xunit;

namespace OciPS.Core.Tests.Build;

/// <summary>Expected values follow Docker's documented substitution rules (Dockerfile reference, "Environment replacement").</summary>
public sealed class ShellLexerTests
{
    private static readonly Dictionary<string, string> Vars = new()
    {
        ["FOO"] = "foo",
        ["EMPTY"] = string.Empty,
        ["SPACED"] = "a b",
        ["PATHV"] = "/usr/local/bin/app.tar.gz",
        ["_x1"] = "under",
    };

    private static string? Lookup(string name) => Vars.TryGetValue(name, out var value) ? value : null;

    [Theory]
    [InlineData("$FOO", "foo")]
    [InlineData("${FOO}", "foo")]
    [InlineData("${FOO}bar", "foobar")]
    [InlineData("$FOObar", "")]
    [InlineData("$FOO/bar", "foo/bar")]
    [InlineData("pre-$FOO-post", "pre-foo-post")]
    [InlineData("$UNSET", "")]
    [InlineData("${UNSET}", "")]
    [InlineData("$_x1", "under")]
    [InlineData("${FOO:-def}", "foo")]
    [InlineData("${UNSET:-def}", "def")]
    [InlineData("${EMPTY:-def}", "def")]
    [InlineData("${EMPTY-def}", "")]
    [InlineData("${UNSET-def}", "def")]
    [InlineData("${FOO:+alt}", "alt")]
    [InlineData("${EMPTY:+alt}", "")]
    [InlineData("${EMPTY+alt}", "alt")]
    [InlineData("${UNSET:+alt}", "")]
    [InlineData("${UNSET:-$FOO}", "foo")]
    [InlineData("${UNSET:-${FOO:+x}y}", "xy")]
    [InlineData("${UNSET:-a b}", "a b")]
    [InlineData("${PATHV#*/}", "usr/local/bin/app.tar.gz")]
    [InlineData("${PATHV##*/}", "app.tar.gz")]
    [InlineData("${PATHV%.*}", "/usr/local/bin/app.tar")]
    [InlineData("${PATHV%%.*}", "/usr/local/bin/app")]
    [InlineData("\\$FOO", "$FOO")]
    [InlineData("\\${FOO}", "${FOO}")]
    [InlineData("'$FOO'", "$FOO")]
    [InlineData("\"$FOO\"", "foo")]
    [InlineData("\"a \\\"q\\\" b\"", "a \"q\" b")]
    [InlineData("\"a\\nb\"", "a\\nb")]
    [InlineData("a\\ b", "a b")]
    [InlineData("'a\\b'", "a\\b")]
    [InlineData("\"$SPACED\"", "a b")]
    [InlineData("$", "$")]
    [InlineData("a$", "a$")]
    [InlineData("$/", "$/")]
    [InlineData("don''t", "dont")]
    [InlineData("\"x\"'y'z", "xyz")]
    public void ExpandsLikeDocker(string word, string expected) =>
        Assert.Equal(expected, new ShellLexer().ProcessWord(word, Lookup));

    [Theory]
    [InlineData("`$FOO", "$FOO")]
    [InlineData("C:\\path\\$FOO", "C:\\path\\foo")]
    [InlineData("a` b", "a b")]
    public void BacktickEscapeLeavesBackslashesAlone(string word, string expected) =>
        Assert.Equal(expected, new ShellLexer('`').ProcessWord(word, Lookup));

    [Theory]
    [InlineData("'unterminated", "single-quote")]
    [InlineData("\"unterminated", "double-quote")]
    [InlineData("${FOO", "missing '}'")]
    [InlineData("${}", "missing variable name")]
    [InlineData("${UNSET:?must be set}", "UNSET: must be set")]
    [InlineData("${EMPTY:?}", "EMPTY: is not allowed to be unset")]
    [InlineData("${FOO:=x}", "unsupported modifier")]
    public void RejectsBadWords(string word, string message)
    {
        var ex = Assert.Throws<FormatException>(() => new ShellLexer().ProcessWord(word, Lookup));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QuestionModifierPassesSetValues() =>
        Assert.Equal("foo", new ShellLexer().ProcessWord("${FOO:?x}", Lookup));

    [Fact]
    public void ProcessWordsSplitsAtUnquotedWhitespace() =>
        Assert.Equal(["80/tcp", "a b", "foo"], new ShellLexer().ProcessWords("80/tcp  \"a b\"\t$FOO", Lookup));
}

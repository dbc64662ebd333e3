using OciPS.Core.Build;
using OciPS.Core.Build.Dockerfile;
using Xunit;

namespace OciPS.Core.Tests.Build;

/// <summary>Expected results written from the Dockerfile reference (parser directives, format, heredocs, exec and shell forms).</summary>
public sealed class DockerfileParserTests
{
    [Fact]
    public void KeywordsAreCaseInsensitiveAndLinesNumbered()
    {
        var document = DockerfileParser.Parse("from scratch\n\n# comment\ncopy a /b\n");
        Assert.Equal(["FROM", "COPY"], document.Instructions.Select(i => i.Keyword));
        Assert.Equal([1, 4], document.Instructions.Select(i => i.StartLine));
        Assert.Equal("a /b", document.Instructions[1].Arguments);
    }

    [Fact]
    public void DirectivesAreReadOnlyAtTheTop()
    {
        var document = DockerfileParser.Parse("# syntax=docker/dockerfile:1\n#  escape = `\nFROM scratch\n# escape=\\\n");
        Assert.Equal("docker/dockerfile:1", document.Directives["syntax"]);
        Assert.Equal('`', document.Escape);
    }

    [Fact]
    public void DirectiveAfterACommentIsAComment()
    {
        var document = DockerfileParser.Parse("# about\n# escape=`\nFROM scratch\n");
        Assert.Equal('\\', document.Escape);
        Assert.Empty(document.Directives);
    }

    [Fact]
    public void UnknownDirectiveEndsDirectives()
    {
        var document = DockerfileParser.Parse("# unknowndirective=value\n# escape=`\nFROM scratch\n");
        Assert.Equal('\\', document.Escape);
    }

    [Fact]
    public void DirectiveAfterBlankLineIsIgnored()
    {
        var document = DockerfileParser.Parse("\n# escape=`\nFROM scratch\n");
        Assert.Equal('\\', document.Escape);
    }

    [Fact]
    public void DuplicateDirectiveIsAnError()
    {
        var ex = Assert.Throws<DockerfileSyntaxException>(() => DockerfileParser.Parse("# escape=\\\n# escape=`\nFROM scratch\n"));
        Assert.Equal(2, ex.Line);
        Assert.Contains("only one escape parser directive", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidEscapeIsAnError() =>
        Assert.Throws<DockerfileSyntaxException>(() => DockerfileParser.Parse("# escape=x\nFROM scratch\n"));

    [Fact]
    public void ContinuationsJoinLinesKeepingLeadingWhitespace()
    {
        var document = DockerfileParser.Parse("FROM scratch\nLABEL a=1 \\\n  b=2\\   \n c=3\nCMD x\n");
        var label = document.Instructions[1];
        Assert.Equal("a=1   b=2 c=3", label.Arguments);
        Assert.Equal(2, label.StartLine);
        Assert.Equal(4, label.EndLine);
        Assert.Equal(5, document.Instructions[2].StartLine);
    }

    [Fact]
    public void CommentAndEmptyLinesInsideContinuationsAreSkipped()
    {
        var document = DockerfileParser.Parse("FROM scratch\nENV A=1 \\\n# comment\n\n    B=2\n");
        Assert.Equal("A=1     B=2", document.Instructions[1].Arguments);
    }

    [Fact]
    public void BacktickEscapeContinuesLinesAndLeavesBackslashes()
    {
        var document = DockerfileParser.Parse("# escape=`\nFROM scratch\nCOPY C:\\src `\n  C:\\dst\\\n");
        Assert.Equal("C:\\src   C:\\dst\\", document.Instructions[1].Arguments);
    }

    [Fact]
    public void CrLfAndBomAreAccepted()
    {
        var document = DockerfileParser.Parse("\uFEFFFROM scratch\r\nCMD [\"a\"]\r\n");
        Assert.Equal(["a"], document.Instructions[1].Json!);
    }

    [Theory]
    [InlineData("CMD [\"/bin/app\", \"-v\"]", true)]
    [InlineData("CMD [ \"a\" ]", true)]
    [InlineData("CMD /bin/app -v", false)]
    [InlineData("CMD [\"a\", 1]", false)]
    [InlineData("CMD ['single']", false)]
    [InlineData("ENTRYPOINT []", true)]
    [InlineData("COPY [\"a b\", \"/c d/\"]", true)]
    [InlineData("VOLUME [\"/data\"]", true)]
    [InlineData("LABEL [\"x\"]", false)]
    public void ExecFormIsAJsonArrayOfStrings(string line, bool isJson)
    {
        var document = DockerfileParser.Parse("FROM scratch\n" + line + "\n");
        Assert.Equal(isJson, document.Instructions[1].Json is not null);
    }

    [Fact]
    public void HealthcheckCmdExecFormIsDetected()
    {
        var instruction = DockerfileParser.Parse("FROM scratch\nHEALTHCHECK --interval=5s CMD [\"curl\", \"-f\", \"http://localhost/\"]\n").Instructions[1];
        Assert.Equal(["--interval=5s"], instruction.Flags);
        Assert.Equal(["curl", "-f", "http://localhost/"], instruction.Json!);
    }

    [Fact]
    public void FlagsAreSeparatedFromArguments()
    {
        var instruction = DockerfileParser.Parse("FROM scratch\nCOPY --chown=1:2 --link --chmod=\"755\" src /dst\n").Instructions[1];
        Assert.Equal(["--chown=1:2", "--link", "--chmod=\"755\""], instruction.Flags);
        Assert.Equal("src /dst", instruction.Arguments);
        var flags = InstructionSyntax.Flags(instruction, "Dockerfile");
        Assert.Equal("true", flags["link"]);
        Assert.Equal("755", new ShellLexer('\\').ProcessWord(flags["chmod"], _ => null));
    }

    [Fact]
    public void QuotedWordIsNotAFlag()
    {
        var instruction = DockerfileParser.Parse("FROM scratch\nCOPY \"--x\" /dst\n").Instructions[1];
        Assert.Empty(instruction.Flags);
        Assert.Equal("\"--x\" /dst", instruction.Arguments);
    }

    [Fact]
    public void UnknownFlagNamesTheLine()
    {
        var instruction = DockerfileParser.Parse("FROM scratch\n\nCOPY --bogus=1 a b\n").Instructions[1];
        var ex = Assert.Throws<DockerfileSyntaxException>(() => InstructionSyntax.Flags(instruction, "Dockerfile"));
        Assert.Equal(3, ex.Line);
        Assert.StartsWith("Dockerfile:3:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeredocContentFollowsTheInstruction()
    {
        var document = DockerfileParser.Parse("FROM scratch\nCOPY <<EOF /hello.txt\nhello $NAME\n  indented\nEOF\nCMD [\"x\"]\n");
        var copy = document.Instructions[1];
        var heredoc = Assert.Single(copy.Heredocs);
        Assert.Equal("EOF", heredoc.Name);
        Assert.Equal("hello $NAME\n  indented\n", heredoc.Content);
        Assert.True(heredoc.Expand);
        Assert.Equal(5, copy.EndLine);
        Assert.Equal(6, document.Instructions[2].StartLine);
    }

    [Fact]
    public void SeveralHeredocsOnOneLineAreReadInOrder()
    {
        var copy = DockerfileParser.Parse("FROM scratch\nCOPY <<one <<\"two\" /dst/\nfirst\none\nsecond $X\ntwo\n").Instructions[1];
        Assert.Equal(["one", "two"], copy.Heredocs.Select(h => h.Name));
        Assert.Equal("first\n", copy.Heredocs[0].Content);
        Assert.Equal("second $X\n", copy.Heredocs[1].Content);
        Assert.True(copy.Heredocs[0].Expand);
        Assert.False(copy.Heredocs[1].Expand);
    }

    [Fact]
    public void DashHeredocStripsLeadingTabs()
    {
        var copy = DockerfileParser.Parse("FROM scratch\nCOPY <<-'END' /f\n\t\tline\n\tEND\n").Instructions[1];
        Assert.Equal("line\n", copy.Heredocs[0].Content);
        Assert.False(copy.Heredocs[0].Expand);
    }

    [Fact]
    public void HeredocMayHoldCommentLikeAndEmptyLines()
    {
        var copy = DockerfileParser.Parse("FROM scratch\nCOPY <<EOF /f\n# not a comment\n\nEOF\n").Instructions[1];
        Assert.Equal("# not a comment\n\n", copy.Heredocs[0].Content);
    }

    [Fact]
    public void UnterminatedHeredocNamesTheInstructionLine()
    {
        var ex = Assert.Throws<DockerfileSyntaxException>(() => DockerfileParser.Parse("FROM scratch\nCOPY <<EOF /f\nnever ends\n"));
        Assert.Equal(2, ex.Line);
        Assert.Contains("unterminated heredoc", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeredocsAreOnlyForRunCopyAndAdd()
    {
        var document = DockerfileParser.Parse("FROM scratch\nLABEL x=<<EOF\nCMD [\"a\"]\n");
        Assert.Empty(document.Instructions[1].Heredocs);
        Assert.Equal(3, document.Instructions.Count);
    }

    [Theory]
    [InlineData("ENV A=1", new[] { "A", "1" })]
    [InlineData("ENV A=\"x y\" B=2", new[] { "A", "\"x y\"", "B", "2" })]
    [InlineData("ENV A x y z", new[] { "A", "x y z" })]
    [InlineData("ENV A=a\\ b C=", new[] { "A", "a\\ b", "C", "" })]
    [InlineData("LABEL \"com.example.vendor\"=\"ACME Inc\"", new[] { "\"com.example.vendor\"", "\"ACME Inc\"" })]
    [InlineData("LABEL version 1.0", new[] { "version", "1.0" })]
    public void NameValueListsSplitLikeDocker(string line, string[] expected)
    {
        var instruction = DockerfileParser.Parse("FROM scratch\n" + line + "\n").Instructions[1];
        var pairs = InstructionSyntax.NameValues(instruction, new ShellLexer(), "Dockerfile");
        Assert.Equal(expected, pairs.SelectMany(p => new[] { p.Name, p.Value }));
    }

    [Theory]
    [InlineData("ENV A=1 B")]
    [InlineData("ENV A")]
    [InlineData("ENV =x")]
    public void BadNameValueListsAreErrors(string line)
    {
        var instruction = DockerfileParser.Parse("FROM scratch\n" + line + "\n").Instructions[1];
        var ex = Assert.Throws<DockerfileSyntaxException>(() => InstructionSyntax.NameValues(instruction, new ShellLexer(), "Dockerfile"));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public void ArgDeclarationsMayHaveDefaults()
    {
        var instruction = DockerfileParser.Parse("ARG A B=2 C=\"x y\"\nFROM scratch\n").Instructions[0];
        var declarations = InstructionSyntax.ArgDeclarations(instruction, new ShellLexer(), "Dockerfile");
        Assert.Equal([("A", (string?)null), ("B", "2"), ("C", "\"x y\"")], declarations);
    }

    [Theory]
    [InlineData("30s", 30_000_000_000L)]
    [InlineData("1m30s", 90_000_000_000L)]
    [InlineData("500ms", 500_000_000L)]
    [InlineData("1h", 3_600_000_000_000L)]
    public void DurationsAreNanoseconds(string text, long expected) =>
        Assert.Equal(expected, InstructionSyntax.ParseDuration(text, "interval", "Dockerfile", 1));

    [Fact]
    public void InstructionWithoutArgumentsIsAnError()
    {
        var ex = Assert.Throws<DockerfileSyntaxException>(() => DockerfileParser.Parse("FROM scratch\nCOPY\n"));
        Assert.Equal(2, ex.Line);
    }
}

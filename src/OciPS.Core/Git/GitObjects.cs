using System.Globalization;
using System.Text;
using LibGit2Sharp;

namespace OciPS.Core.Git;

/// <summary>One entry of a tree object: name bytes, git mode, object id.</summary>
internal sealed record TreeItem(byte[] Name, string Mode, ObjectId Id)
{
    public const string DirectoryMode = "40000";

    public bool IsDirectory => Mode == DirectoryMode;

    public static TreeItem Of(string name, string mode, ObjectId id) => new(Encoding.UTF8.GetBytes(name), mode, id);

    /// <summary>Git sorts tree entries by name bytes, a directory as if its name ended in '/'.</summary>
    public static int GitOrder(TreeItem a, TreeItem b)
    {
        var length = Math.Min(a.Name.Length, b.Name.Length);
        var common = a.Name.AsSpan(0, length).SequenceCompareTo(b.Name.AsSpan(0, length));
        if (common != 0)
        {
            return common;
        }

        var nextA = a.Name.Length > length ? a.Name[length] : a.IsDirectory ? (byte)'/' : (byte)0;
        var nextB = b.Name.Length > length ? b.Name[length] : b.IsDirectory ? (byte)'/' : (byte)0;
        return nextA.CompareTo(nextB);
    }
}

/// <summary>
/// Trees and commits written as raw objects: their bytes are fully determined by what goes in (no
/// time zone, no message clean-up, no config lookups), which is what makes the same image give the
/// same commit ids every time.
/// </summary>
internal static class GitObjects
{
    /// <summary>The fixed author and committer of every commit; only the date varies (the history step's).</summary>
    public const string Identity = "OciPS <ocips@localhost>";

    public static ObjectId WriteTree(PackWriter pack, List<TreeItem> items)
    {
        items.Sort(TreeItem.GitOrder);
        using var buffer = new MemoryStream(items.Count * 48);
        foreach (var item in items)
        {
            buffer.Write(Encoding.ASCII.GetBytes(item.Mode));
            buffer.WriteByte((byte)' ');
            buffer.Write(item.Name);
            buffer.WriteByte(0);
            buffer.Write(item.Id.RawId);
        }

        return pack.Write(ObjectType.Tree, buffer.ToArray());
    }

    public static ObjectId WriteBlob(PackWriter pack, byte[] content) => pack.Write(ObjectType.Blob, content);

    public static ObjectId WriteCommit(PackWriter pack, ObjectId tree, ObjectId? parent, DateTimeOffset when, string message)
    {
        var seconds = Math.Max(0, when.ToUnixTimeSeconds()).ToString(CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.Append("tree ").Append(tree.Sha).Append('\n');
        if (parent is not null)
        {
            text.Append("parent ").Append(parent.Sha).Append('\n');
        }

        text.Append("author ").Append(Identity).Append(' ').Append(seconds).Append(" +0000\n");
        text.Append("committer ").Append(Identity).Append(' ').Append(seconds).Append(" +0000\n\n");
        text.Append(message);
        return pack.Write(ObjectType.Commit, Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>The key under which a commit is found again: its parent, date and message.</summary>
    public static string Key(ObjectId? parent, DateTimeOffset when, string message) =>
        (parent?.Sha ?? "root") + "\n" + Math.Max(0, when.ToUnixTimeSeconds()).ToString(CultureInfo.InvariantCulture) + "\n" + message;
}

using System.Buffers.Text;
using System.Text;

namespace OciPS.Core.Layers.Tar;

/// <summary>
/// The records of a PAX extended header (<c>"%d %s=%s\n"</c>), kept in order with their exact bytes:
/// keys repeat in GNU sparse 0.0 headers, and xattr values are binary.
/// </summary>
internal static class PaxRecords
{
    public static List<KeyValuePair<string, byte[]>> Parse(ReadOnlySpan<byte> data, Func<string, Exception> corrupt)
    {
        var records = new List<KeyValuePair<string, byte[]>>();
        while (data.Length > 0)
        {
            // A NUL where a record would start ends the records (some writers pad with NULs).
            if (data[0] == 0)
            {
                break;
            }

            var space = data.IndexOf((byte)' ');
            if (space <= 0 || !Utf8Parser.TryParse(data[..space], out int length, out var used) || used != space || length <= space + 1 || length > data.Length)
            {
                throw corrupt("a PAX record has a bad length");
            }

            var record = data[(space + 1)..length];
            if (record[^1] != '\n')
            {
                throw corrupt("a PAX record does not end with a newline");
            }

            record = record[..^1];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0)
            {
                throw corrupt("a PAX record has no key");
            }

            records.Add(new(Encoding.UTF8.GetString(record[..equals]), record[(equals + 1)..].ToArray()));
            data = data[length..];
        }

        return records;
    }

    /// <summary>Encodes records in the order given, each length counting its own digits.</summary>
    public static byte[] Format(IEnumerable<KeyValuePair<string, byte[]>> records)
    {
        using var buffer = new MemoryStream();
        foreach (var (key, value) in records)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key);
            var body = 1 + keyBytes.Length + 1 + value.Length + 1;
            var length = body + Digits(body);
            if (Digits(length) != Digits(body))
            {
                length = body + Digits(length);
            }

            var prefix = Encoding.ASCII.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ");
            buffer.Write(prefix);
            buffer.Write(keyBytes);
            buffer.WriteByte((byte)'=');
            buffer.Write(value);
            buffer.WriteByte((byte)'\n');
        }

        return buffer.ToArray();
    }

    private static int Digits(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
}

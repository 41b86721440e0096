// The C# langpack runtime: every pack carries this file with the namespace
// Clickstream.Runtime replaced by its own (e.g. Clickstream.Events.Web).
using System;
using System.Collections.Generic;
using System.Globalization;

namespace Clickstream.Runtime
{
    /// <summary>
    /// Writes protobuf JSON exactly as the protobuf runtimes read it: 64-bit integers as strings,
    /// floats in their shortest form that reads back to the same value, bytes in base64, enums by
    /// name, Timestamp and Duration with 0, 3, 6 or 9 fractional digits.
    /// </summary>
    public sealed class JsonWriter
    {
        /// <summary>The largest google.protobuf.Duration, in seconds (about 10,000 years).</summary>
        public const long MaxDurationSeconds = 315576000000;

        private readonly System.Text.StringBuilder sb = new System.Text.StringBuilder();
        private readonly Stack<bool> first = new Stack<bool>();
        private bool afterName;
        private string lastName = ""; // the member being written, for errors

        public override string ToString()
        {
            return sb.ToString();
        }

        private void Pre()
        {
            if (afterName)
            {
                afterName = false;
                return;
            }
            if (first.Count > 0)
            {
                if (!first.Pop())
                {
                    sb.Append(',');
                }
                first.Push(false);
            }
        }

        public void BeginObject()
        {
            Pre();
            sb.Append('{');
            first.Push(true);
        }

        public void EndObject()
        {
            first.Pop();
            sb.Append('}');
        }

        public void BeginArray()
        {
            Pre();
            sb.Append('[');
            first.Push(true);
        }

        public void EndArray()
        {
            first.Pop();
            sb.Append(']');
        }

        public void Name(string name)
        {
            Pre();
            Quote(name);
            sb.Append(':');
            afterName = true;
            lastName = name;
        }

        /// <summary>A map key as protobuf JSON spells it: "true"/"false", a decimal integer or the string.</summary>
        public static string Key(object key)
        {
            if (key is bool)
            {
                return (bool)key ? "true" : "false";
            }
            return Convert.ToString(key, CultureInfo.InvariantCulture);
        }

        public void String(string s)
        {
            Pre();
            Quote(s ?? "");
        }

        public void Bool(bool b)
        {
            Pre();
            sb.Append(b ? "true" : "false");
        }

        /// <summary>A double: the shortest text that reads back to the same value; NaN and infinities as strings.</summary>
        public void Number(double d)
        {
            Pre();
            if (double.IsNaN(d) || double.IsInfinity(d))
            {
                sb.Append(double.IsNaN(d) ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
                return;
            }
            if (d == 0)
            {
                // Some runtimes write -0 as "0": the sign is part of the value.
                sb.Append(BitConverter.DoubleToInt64Bits(d) != 0 ? "-0" : "0");
                return;
            }
            string s = d.ToString("R", CultureInfo.InvariantCulture);
            double back;
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out back) || back != d)
            {
                s = d.ToString("G17", CultureInfo.InvariantCulture);
            }
            sb.Append(s);
        }

        /// <summary>A float: the shortest text that reads back to the same 32-bit value.</summary>
        public void Float(float f)
        {
            if (float.IsNaN(f) || float.IsInfinity(f) || f == 0)
            {
                Number((double)f);
                return;
            }
            Pre();
            string s = f.ToString("R", CultureInfo.InvariantCulture);
            float back;
            if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out back) || back != f)
            {
                s = f.ToString("G9", CultureInfo.InvariantCulture);
            }
            sb.Append(s);
        }

        public void Number(long n)
        {
            Pre();
            sb.Append(n.ToString(CultureInfo.InvariantCulture));
        }

        /// <summary>64-bit integers are JSON strings in protobuf JSON.</summary>
        public void Int64(long n)
        {
            String(n.ToString(CultureInfo.InvariantCulture));
        }

        public void Int64(ulong n)
        {
            String(n.ToString(CultureInfo.InvariantCulture));
        }

        public void Bytes(byte[] b)
        {
            String(Convert.ToBase64String(b ?? new byte[0]));
        }

        /// <summary>An enum value by name, or by number when this langpack does not know it.</summary>
        public void Enum(object v)
        {
            if (System.Enum.IsDefined(v.GetType(), v))
            {
                String(v.ToString());
            }
            else
            {
                Number(Convert.ToInt64(v, CultureInfo.InvariantCulture));
            }
        }

        /// <summary>
        /// google.protobuf.Timestamp: RFC 3339 in UTC. A DateTimeOffset counts 100 ns ticks, so the
        /// nanos sent are a multiple of 100; its range (years 1 to 9999) is the Timestamp's.
        /// </summary>
        public void Timestamp(DateTimeOffset t)
        {
            long ticks = t.UtcTicks;
            long fraction = ticks % TimeSpan.TicksPerSecond;
            var whole = new DateTime(ticks - fraction, DateTimeKind.Utc);
            String(whole.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss", CultureInfo.InvariantCulture) + Fraction(fraction * 100) + "Z");
        }

        /// <summary>
        /// google.protobuf.Duration: seconds with an "s", the fraction carrying the sign of the whole.
        /// A TimeSpan counts 100 ns ticks; one longer than MaxDurationSeconds throws
        /// ArgumentOutOfRangeException, since protobuf cannot hold it (Validate() refuses it first).
        /// </summary>
        public void Duration(TimeSpan d)
        {
            long seconds = d.Ticks / TimeSpan.TicksPerSecond; // toward zero
            long nanos = d.Ticks % TimeSpan.TicksPerSecond * 100; // the sign of seconds
            string problem = DurationProblem(d);
            if (problem != null)
            {
                throw new ArgumentOutOfRangeException(lastName, d, "JSON member \"" + lastName + "\": " + problem);
            }
            string sign = d.Ticks < 0 ? "-" : "";
            String(sign + Math.Abs(seconds).ToString(CultureInfo.InvariantCulture) + Fraction(Math.Abs(nanos)) + "s");
        }

        /// <summary>Why d cannot be sent as a google.protobuf.Duration, or null.</summary>
        public static string DurationProblem(TimeSpan d)
        {
            long seconds = d.Ticks / TimeSpan.TicksPerSecond;
            if (seconds > MaxDurationSeconds || seconds < -MaxDurationSeconds)
            {
                return "google.protobuf.Duration is limited to " + MaxDurationSeconds + " seconds either way";
            }
            return null;
        }

        /// <summary>".123", ".123456" or ".123456789" for nanos, or nothing for 0.</summary>
        private static string Fraction(long nanos)
        {
            if (nanos == 0)
            {
                return "";
            }
            if (nanos % 1000000 == 0)
            {
                return "." + (nanos / 1000000).ToString("D3", CultureInfo.InvariantCulture);
            }
            if (nanos % 1000 == 0)
            {
                return "." + (nanos / 1000).ToString("D6", CultureInfo.InvariantCulture);
            }
            return "." + nanos.ToString("D9", CultureInfo.InvariantCulture);
        }

        /// <summary>JSON text as it is.</summary>
        public void Raw(string json)
        {
            Pre();
            sb.Append(string.IsNullOrEmpty(json) ? "null" : json);
        }

        /// <summary>
        /// s as a JSON string. Protobuf strings are UTF-8 text: a lone UTF-16 surrogate has no UTF-8
        /// form, so it throws ArgumentException rather than being replaced on the way.
        /// </summary>
        private void Quote(string s)
        {
            sb.Append('"');
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20)
                        {
                            sb.Append("\\u").Append(((int)c).ToString("x4"));
                        }
                        else if (char.IsSurrogate(c))
                        {
                            if (!char.IsHighSurrogate(c) || i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                            {
                                throw new ArgumentException("JSON member \"" + lastName + "\": the string holds a lone UTF-16 surrogate at index "
                                    + i + "; protobuf strings are UTF-8 text");
                            }
                            sb.Append(c).Append(s[++i]);
                        }
                        else
                        {
                            sb.Append(c);
                        }
                        break;
                }
            }
            sb.Append('"');
        }
    }
}

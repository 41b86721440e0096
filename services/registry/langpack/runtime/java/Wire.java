package dev.clickstream.runtime;

/**
 * The protobuf binary format, written and read without a protobuf runtime: the generated classes write
 * themselves with Writer, the Sender reads ingest's answer with Reader. Nothing here depends on
 * protobuf-java, so the langpack adds no dependency to an app (protobuf-java or -javalite may be there
 * or not, in any version).
 */
final class Wire {
    /** The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
    static final long TIMESTAMP_MIN_SECONDS = -62135596800L;
    static final long TIMESTAMP_MAX_SECONDS = 253402300799L;
    /** The range of google.protobuf.Duration: about ±10,000 years. */
    static final long DURATION_MAX_SECONDS = 315576000000L;

    private static final int VARINT = 0;
    private static final int FIXED64 = 1;
    private static final int LENGTH_DELIMITED = 2;
    private static final int FIXED32 = 5;

    private Wire() {
    }

    /** Why protobuf cannot carry t, or null when it can. */
    static String timestampProblem(java.time.Instant t) {
        long seconds = t.getEpochSecond();
        if (seconds < TIMESTAMP_MIN_SECONDS || seconds > TIMESTAMP_MAX_SECONDS) {
            return t + " is outside the range of google.protobuf.Timestamp (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z)";
        }
        return null;
    }

    /** Why protobuf cannot carry d, or null when it can. */
    static String durationProblem(java.time.Duration d) {
        // Duration.getSeconds() is floored: the whole seconds of a negative duration are one more.
        long seconds = d.getSeconds() < 0 && d.getNano() > 0 ? d.getSeconds() + 1 : d.getSeconds();
        if (seconds < -DURATION_MAX_SECONDS || seconds > DURATION_MAX_SECONDS) {
            return d + " is outside the range of google.protobuf.Duration (-315576000000s to 315576000000s)";
        }
        return null;
    }

    /** validate() of a Timestamp: throws when protobuf cannot carry t. */
    static void check(java.time.Instant t, String event, int eventId, int version, String field) {
        String problem = t == null ? null : timestampProblem(t);
        if (problem != null) {
            throw new ValidationException(event, eventId, version, field, "field " + field + ": " + problem);
        }
    }

    /** validate() of a Duration: throws when protobuf cannot carry d. */
    static void check(java.time.Duration d, String event, int eventId, int version, String field) {
        String problem = d == null ? null : durationProblem(d);
        if (problem != null) {
            throw new ValidationException(event, eventId, version, field, "field " + field + ": " + problem);
        }
    }

    /**
     * google.protobuf.Timestamp of t: seconds and nanos in [0, 999999999], as java.time.Instant holds them.
     *
     * @throws IllegalArgumentException when t is outside the years 1 to 9999, which protobuf cannot carry
     */
    static byte[] timestamp(java.time.Instant t, String field) {
        String problem = timestampProblem(t);
        if (problem != null) {
            throw new IllegalArgumentException("field " + field + ": " + problem);
        }
        return secondsNanos(t.getEpochSecond(), t.getNano());
    }

    /**
     * google.protobuf.Duration of d: seconds and nanos carry the same sign, |nanos| at most 999999999.
     *
     * @throws IllegalArgumentException when d is longer than 315,576,000,000 seconds either way, which protobuf cannot carry
     */
    static byte[] duration(java.time.Duration d, String field) {
        // java.time.Duration keeps nanos in [0, 999999999] with the seconds floored: -1.5s is -2s + 0.5s.
        long seconds = d.getSeconds();
        int nanos = d.getNano();
        if (seconds < 0 && nanos > 0) {
            seconds += 1;
            nanos -= 1000000000;
        }
        String problem = durationProblem(d);
        if (problem != null) {
            throw new IllegalArgumentException("field " + field + ": " + problem);
        }
        return secondsNanos(seconds, nanos);
    }

    private static byte[] secondsNanos(long seconds, int nanos) {
        Writer out = new Writer();
        if (seconds != 0) {
            out.writeInt64(1, seconds);
        }
        if (nanos != 0) {
            out.writeInt32(2, nanos);
        }
        return out.toByteArray();
    }

    /**
     * Writes protobuf binary into memory. Unsigned kinds (uint32, fixed32, uint64, fixed64) take Java's
     * signed int and long holding the same bits: -1 is 4294967295 or 18446744073709551615.
     */
    static final class Writer {
        private byte[] buf = new byte[64];
        private int size;

        /** The bytes written so far. */
        byte[] toByteArray() {
            return java.util.Arrays.copyOf(buf, size);
        }

        private void ensure(int n) {
            if (size + n > buf.length) {
                buf = java.util.Arrays.copyOf(buf, Math.max(buf.length * 2, size + n));
            }
        }

        private void put(int b) {
            ensure(1);
            buf[size++] = (byte) b;
        }

        void writeTag(int field, int wireType) {
            writeVarint(((long) field << 3) | wireType);
        }

        void writeVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                put((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            put((int) v);
        }

        void writeInt32NoTag(int v) {
            writeVarint(v); // a negative int32 is sign-extended to ten bytes, as protobuf requires
        }

        void writeUInt32NoTag(int v) {
            writeVarint(v & 0xFFFFFFFFL);
        }

        void writeSInt32NoTag(int v) {
            writeVarint(((v << 1) ^ (v >> 31)) & 0xFFFFFFFFL);
        }

        void writeFixed32NoTag(int v) {
            put(v);
            put(v >>> 8);
            put(v >>> 16);
            put(v >>> 24);
        }

        void writeSFixed32NoTag(int v) {
            writeFixed32NoTag(v);
        }

        void writeInt64NoTag(long v) {
            writeVarint(v);
        }

        void writeUInt64NoTag(long v) {
            writeVarint(v);
        }

        void writeSInt64NoTag(long v) {
            writeVarint((v << 1) ^ (v >> 63));
        }

        void writeFixed64NoTag(long v) {
            writeFixed32NoTag((int) v);
            writeFixed32NoTag((int) (v >>> 32));
        }

        void writeSFixed64NoTag(long v) {
            writeFixed64NoTag(v);
        }

        void writeFloatNoTag(float v) {
            writeFixed32NoTag(Float.floatToRawIntBits(v));
        }

        void writeDoubleNoTag(double v) {
            writeFixed64NoTag(Double.doubleToRawLongBits(v));
        }

        void writeBoolNoTag(boolean v) {
            put(v ? 1 : 0);
        }

        void writeEnumNoTag(int number) {
            writeInt32NoTag(number);
        }

        void writeInt32(int field, int v) {
            writeTag(field, VARINT);
            writeInt32NoTag(v);
        }

        void writeUInt32(int field, int v) {
            writeTag(field, VARINT);
            writeUInt32NoTag(v);
        }

        void writeSInt32(int field, int v) {
            writeTag(field, VARINT);
            writeSInt32NoTag(v);
        }

        void writeFixed32(int field, int v) {
            writeTag(field, FIXED32);
            writeFixed32NoTag(v);
        }

        void writeSFixed32(int field, int v) {
            writeTag(field, FIXED32);
            writeFixed32NoTag(v);
        }

        void writeInt64(int field, long v) {
            writeTag(field, VARINT);
            writeVarint(v);
        }

        void writeUInt64(int field, long v) {
            writeTag(field, VARINT);
            writeVarint(v);
        }

        void writeSInt64(int field, long v) {
            writeTag(field, VARINT);
            writeSInt64NoTag(v);
        }

        void writeFixed64(int field, long v) {
            writeTag(field, FIXED64);
            writeFixed64NoTag(v);
        }

        void writeSFixed64(int field, long v) {
            writeTag(field, FIXED64);
            writeFixed64NoTag(v);
        }

        void writeFloat(int field, float v) {
            writeTag(field, FIXED32);
            writeFloatNoTag(v);
        }

        void writeDouble(int field, double v) {
            writeTag(field, FIXED64);
            writeDoubleNoTag(v);
        }

        void writeBool(int field, boolean v) {
            writeTag(field, VARINT);
            writeBoolNoTag(v);
        }

        void writeEnum(int field, int number) {
            writeTag(field, VARINT);
            writeInt32NoTag(number);
        }

        /** A string as UTF-8; an unpaired surrogate becomes '?', as protobuf-java writes it. */
        void writeString(int field, String v) {
            writeBytes(field, v.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }

        /** Bytes, or an encoded message, length-delimited. */
        void writeBytes(int field, byte[] v) {
            writeTag(field, LENGTH_DELIMITED);
            writeVarint(v.length);
            ensure(v.length);
            System.arraycopy(v, 0, buf, size, v.length);
            size += v.length;
        }
    }

    /** Reads protobuf binary from memory; every method throws IOException on malformed input. */
    static final class Reader {
        private final byte[] buf;
        private int pos;

        Reader(byte[] data) {
            this.buf = data;
        }

        /** The next field's tag (number and wire type), or 0 at the end. */
        int readTag() throws java.io.IOException {
            if (pos >= buf.length) {
                return 0;
            }
            long tag = readVarint();
            if ((tag >>> 3) == 0 || tag > 0xFFFFFFFFL) {
                throw new java.io.IOException("malformed protobuf: field tag " + tag + " at byte " + pos);
            }
            return (int) tag;
        }

        long readVarint() throws java.io.IOException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= buf.length) {
                    throw new java.io.IOException("malformed protobuf: a varint runs past the end");
                }
                byte b = buf[pos++];
                v |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return v;
                }
            }
            throw new java.io.IOException("malformed protobuf: a varint longer than ten bytes");
        }

        int readInt32() throws java.io.IOException {
            return (int) readVarint();
        }

        boolean readBool() throws java.io.IOException {
            return readVarint() != 0;
        }

        byte[] readBytes() throws java.io.IOException {
            long n = readVarint();
            if (n < 0 || n > buf.length - pos) {
                throw new java.io.IOException("malformed protobuf: a length of " + n + " runs past the end");
            }
            byte[] out = java.util.Arrays.copyOfRange(buf, pos, pos + (int) n);
            pos += (int) n;
            return out;
        }

        String readString() throws java.io.IOException {
            return new String(readBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }

        /** Skips the value of a field whose tag was just read. */
        void skipField(int tag) throws java.io.IOException {
            switch (tag & 7) {
                case VARINT:
                    readVarint();
                    return;
                case FIXED64:
                    skip(8);
                    return;
                case LENGTH_DELIMITED:
                    readBytes();
                    return;
                case FIXED32:
                    skip(4);
                    return;
                default:
                    throw new java.io.IOException("malformed protobuf: wire type " + (tag & 7) + " of field " + (tag >>> 3));
            }
        }

        private void skip(int n) throws java.io.IOException {
            if (n > buf.length - pos) {
                throw new java.io.IOException("malformed protobuf: a fixed-size value runs past the end");
            }
            pos += n;
        }
    }
}

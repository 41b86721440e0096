package dev.clickstream.runtime;

/**
 * Sends events to Clickstream ingest: protobuf binary over the Connect
 * protocol (POST /clickstream.ingest.v1.IngestService/SendBatch,
 * application/proto) with HttpURLConnection, so it needs no gRPC or protobuf runtime
 * and runs on Android. Every event is validated before anything is sent;
 * retries resend the same bytes, so the idempotency keys are kept and
 * ingest stores each event once. Not for concurrent use without external
 * locking beyond its synchronized methods; offline buffering to disk is out
 * of scope.
 */
public final class Sender implements java.io.Closeable {
    /** The ingest procedure the sender calls. */
    public static final String SEND_BATCH_PATH = "/clickstream.ingest.v1.IngestService/SendBatch";

    private static final java.util.regex.Pattern CONNECT_CODE = java.util.regex.Pattern.compile("\"code\"\\s*:\\s*\"([a-z_]+)\"");
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    private final String url;
    private String apiKey = "";
    private int batchSize = 100;
    private int maxAttempts = 5;
    private long initialBackoffMillis = 100;
    private long maxBackoffMillis = 5000;
    private int timeoutMillis = 30000;
    private final java.util.List<String> queueKeys = new java.util.ArrayList<String>();
    private final java.util.List<ClickstreamEvent> queue = new java.util.ArrayList<ClickstreamEvent>();
    private final java.util.List<Result> results = new java.util.ArrayList<Result>();

    /** A sender to the ingest service at baseUrl, e.g. "https://ingest.example.com". */
    public Sender(String baseUrl) {
        String base = baseUrl;
        while (base.endsWith("/")) {
            base = base.substring(0, base.length() - 1);
        }
        this.url = base + SEND_BATCH_PATH;
    }

    /** Sends "Authorization: Bearer key"; the key is bound to this environment. */
    public Sender apiKey(String key) {
        this.apiKey = key == null ? "" : key;
        return this;
    }

    /** Events per request (default 100); add() sends a batch once this many wait. */
    public Sender batchSize(int n) {
        this.batchSize = Math.max(1, n);
        return this;
    }

    /** Attempts per batch, at least 1 (default 5). */
    public Sender maxAttempts(int n) {
        this.maxAttempts = Math.max(1, n);
        return this;
    }

    /** Bounds of the jittered wait between attempts: the first, doubling up to the cap (default 100ms, 5s). */
    public Sender backoff(long initialMillis, long maxMillis) {
        this.initialBackoffMillis = Math.max(0, initialMillis);
        this.maxBackoffMillis = Math.max(this.initialBackoffMillis, maxMillis);
        return this;
    }

    /** Connect and read timeout of one attempt (default 30s). */
    public Sender timeoutMillis(int millis) {
        this.timeoutMillis = Math.max(0, millis);
        return this;
    }

    /** A fresh idempotency key: 32 hex digits. */
    public static String newKey() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        StringBuilder s = new StringBuilder(32);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }

    /** Validates the event, queues it under a new idempotency key and sends a batch when enough wait. */
    public synchronized String add(ClickstreamEvent event) {
        String key = newKey();
        add(event, key);
        return key;
    }

    /** add() with the caller's idempotency key. */
    public synchronized void add(ClickstreamEvent event, String key) {
        event.validate();
        queueKeys.add(key == null || key.isEmpty() ? newKey() : key);
        queue.add(event);
        while (queue.size() >= batchSize) {
            sendQueued(batchSize);
        }
    }

    /** Sends every queued event and returns the verdicts gathered since the last flush, in order. */
    public synchronized java.util.List<Result> flush() {
        while (!queue.isEmpty()) {
            sendQueued(Math.min(batchSize, queue.size()));
        }
        java.util.List<Result> out = new java.util.ArrayList<Result>(results);
        results.clear();
        return out;
    }

    /** Sends what waits; the verdicts are lost unless flush() was called first. */
    @Override
    public void close() {
        flush();
    }

    private void sendQueued(int n) {
        java.util.List<ClickstreamEvent> events = new java.util.ArrayList<ClickstreamEvent>(queue.subList(0, n));
        java.util.List<String> keys = new java.util.ArrayList<String>(queueKeys.subList(0, n));
        queue.subList(0, n).clear();
        queueKeys.subList(0, n).clear();
        results.addAll(sendBatch(events, keys));
    }

    /** Validates every event, then sends them at once; one result per event, in order. */
    public java.util.List<Result> send(ClickstreamEvent... events) {
        return send(java.util.Arrays.asList(events), null);
    }

    /**
     * Validates every event, then sends them in batches under keys (new ones when null); one result per
     * event, in order. Nothing is sent when an event is invalid. A batch that could not be delivered gives
     * results whose error() says why.
     */
    public java.util.List<Result> send(java.util.List<? extends ClickstreamEvent> events, java.util.List<String> keys) {
        for (ClickstreamEvent e : events) {
            e.validate();
        }
        if (keys != null && keys.size() != events.size()) {
            throw new IllegalArgumentException(keys.size() + " idempotency keys for " + events.size() + " events");
        }
        java.util.List<String> ks = new java.util.ArrayList<String>();
        for (int i = 0; i < events.size(); i++) {
            ks.add(keys == null ? newKey() : keys.get(i));
        }
        java.util.List<Result> out = new java.util.ArrayList<Result>();
        for (int start = 0; start < events.size(); start += batchSize) {
            int end = Math.min(events.size(), start + batchSize);
            out.addAll(sendBatch(new java.util.ArrayList<ClickstreamEvent>(events.subList(start, end)), ks.subList(start, end)));
        }
        return out;
    }

    /** The SendBatchRequest bytes of events sent under keys. */
    public static byte[] requestBody(java.util.List<? extends ClickstreamEvent> events, java.util.List<String> keys) {
        Wire.Writer out = new Wire.Writer();
        for (int i = 0; i < events.size(); i++) {
            ClickstreamEvent e = events.get(i);
            // google.protobuf.Any: type_url = 1, value = 2.
            Wire.Writer any = new Wire.Writer();
            any.writeString(1, "type.googleapis.com/" + e.messageName());
            any.writeBytes(2, e.toByteArray());
            // clickstream.ingest.v1.Event: idempotency_key = 1, typed = 3.
            Wire.Writer ev = new Wire.Writer();
            ev.writeString(1, keys.get(i));
            ev.writeBytes(3, any.toByteArray());
            out.writeBytes(1, ev.toByteArray()); // clickstream.ingest.v1.SendBatchRequest: events = 1
        }
        return out.toByteArray();
    }

    private java.util.List<Result> sendBatch(java.util.List<ClickstreamEvent> events, java.util.List<String> keys) {
        java.util.List<Result> out = new java.util.ArrayList<Result>();
        for (int i = 0; i < events.size(); i++) {
            out.add(new Result(keys.get(i), events.get(i)));
        }
        byte[] body = requestBody(events, keys);
        Exception last = null;
        int attempt = 1;
        for (;; attempt++) {
            try {
                byte[] answer = post(body);
                decodeResponse(answer, out);
                for (int i = 0; i < out.size(); i++) {
                    Result r = out.get(i);
                    if (r.status == EventStatus.EVENT_STATUS_UNSPECIFIED) {
                        r.error = new java.io.IOException("ingest answered no verdict for event " + i + " (key " + r.key() + ")");
                    }
                }
                return out;
            } catch (RetryableException e) {
                last = e;
            } catch (java.io.IOException e) {
                last = e;
            } catch (SendFailure e) {
                last = e;
                break;
            }
            if (attempt >= maxAttempts) {
                break;
            }
            long bound = initialBackoffMillis;
            for (int i = 1; i < attempt && bound < maxBackoffMillis; i++) {
                bound *= 2;
            }
            bound = Math.min(bound, maxBackoffMillis);
            try {
                Thread.sleep(bound <= 0 ? 0 : (long) (RANDOM.nextDouble() * bound));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                last = e;
                break;
            }
        }
        Exception err = new java.io.IOException("send batch of " + events.size() + " events (" + attempt + " attempts): " + last.getMessage(), last);
        for (Result r : out) {
            r.error = err;
        }
        return out;
    }

    /** A failure that sending again may cure. */
    private static final class RetryableException extends java.io.IOException {
        private static final long serialVersionUID = 1L;

        RetryableException(String message) {
            super(message);
        }
    }

    /** A failure that sending again will not cure. */
    private static final class SendFailure extends Exception {
        private static final long serialVersionUID = 1L;

        SendFailure(String message) {
            super(message);
        }
    }

    private byte[] post(byte[] body) throws java.io.IOException, SendFailure {
        java.net.HttpURLConnection c = (java.net.HttpURLConnection) new java.net.URL(url).openConnection();
        try {
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setConnectTimeout(timeoutMillis);
            c.setReadTimeout(timeoutMillis);
            c.setRequestProperty("Content-Type", "application/proto");
            c.setRequestProperty("Accept", "application/proto");
            c.setRequestProperty("Connect-Protocol-Version", "1");
            if (!apiKey.isEmpty()) {
                c.setRequestProperty("Authorization", "Bearer " + apiKey);
            }
            c.setFixedLengthStreamingMode(body.length);
            java.io.OutputStream os = c.getOutputStream();
            try {
                os.write(body);
            } finally {
                os.close();
            }
            int status = c.getResponseCode();
            java.io.InputStream in = status >= 200 && status < 300 ? c.getInputStream() : c.getErrorStream();
            byte[] answer = in == null ? new byte[0] : readAll(in);
            if (status >= 200 && status < 300) {
                return answer;
            }
            // A Connect error: {"code": "unavailable", "message": "…"}.
            String text = new String(answer, java.nio.charset.StandardCharsets.UTF_8);
            java.util.regex.Matcher m = CONNECT_CODE.matcher(text);
            String code = m.find() ? m.group(1) : "";
            String detail = "HTTP " + status + (code.isEmpty() ? "" : " " + code) + ": " + text;
            boolean retry = code.isEmpty()
                    ? status == 429 || status == 502 || status == 503 || status == 504
                    : code.equals("unavailable") || code.equals("resource_exhausted") || code.equals("deadline_exceeded") || code.equals("aborted");
            if (retry) {
                throw new RetryableException(detail);
            }
            throw new SendFailure(detail);
        } finally {
            c.disconnect();
        }
    }

    private static byte[] readAll(java.io.InputStream in) throws java.io.IOException {
        try {
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            for (int n; (n = in.read(chunk)) > 0;) {
                buf.write(chunk, 0, n);
            }
            return buf.toByteArray();
        } finally {
            in.close();
        }
    }

    /** Reads a SendBatchResponse into the results it answers. */
    static void decodeResponse(byte[] data, java.util.List<Result> out) throws java.io.IOException {
        Wire.Reader in = new Wire.Reader(data);
        for (int tag; (tag = in.readTag()) != 0;) {
            if (tag != (1 << 3 | 2)) { // results = 1
                in.skipField(tag);
                continue;
            }
            Wire.Reader r = new Wire.Reader(in.readBytes());
            int index = 0;
            EventStatus status = EventStatus.EVENT_STATUS_UNSPECIFIED;
            Rejection rejection = null;
            for (int t; (t = r.readTag()) != 0;) {
                switch (t) {
                    case 1 << 3: // index
                        index = r.readInt32();
                        break;
                    case 3 << 3: // status
                        status = EventStatus.forNumber(r.readInt32());
                        break;
                    case 4 << 3 | 2: // rejection
                        rejection = decodeRejection(r.readBytes());
                        break;
                    default:
                        r.skipField(t);
                }
            }
            if (index >= 0 && index < out.size()) {
                out.get(index).status = status;
                out.get(index).rejection = rejection;
            }
        }
    }

    private static Rejection decodeRejection(byte[] data) throws java.io.IOException {
        Wire.Reader in = new Wire.Reader(data);
        RejectReason reason = RejectReason.REJECT_REASON_UNSPECIFIED;
        String fieldPath = "";
        String message = "";
        boolean retryable = false;
        for (int t; (t = in.readTag()) != 0;) {
            switch (t) {
                case 1 << 3:
                    reason = RejectReason.forNumber(in.readInt32());
                    break;
                case 2 << 3 | 2:
                    fieldPath = in.readString();
                    break;
                case 3 << 3 | 2:
                    message = in.readString();
                    break;
                case 4 << 3:
                    retryable = in.readBool();
                    break;
                default:
                    in.skipField(t);
            }
        }
        return new Rejection(reason, fieldPath, message, retryable);
    }
}

package dev.clickstream.runtime;

/** Why ingest rejected an event (clickstream.ingest.v1.Rejection). */
public final class Rejection {
    private final RejectReason reason;
    private final String fieldPath;
    private final String message;
    private final boolean retryable;

    public Rejection(RejectReason reason, String fieldPath, String message, boolean retryable) {
        this.reason = reason;
        this.fieldPath = fieldPath;
        this.message = message;
        this.retryable = retryable;
    }

    public RejectReason reason() {
        return reason;
    }

    public String fieldPath() {
        return fieldPath;
    }

    public String message() {
        return message;
    }

    /** Sending the same event again may succeed. */
    public boolean retryable() {
        return retryable;
    }

    @Override
    public String toString() {
        return reason + " " + fieldPath + ": " + message;
    }
}

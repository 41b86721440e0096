package dev.clickstream.runtime;

/** One event version of this langpack. */
public interface ClickstreamEvent {
    int eventId();

    int eventVersion();

    /** The full protobuf name, e.g. "clickstream.events.v1.ItemViewV2". */
    String messageName();

    boolean deprecated();

    /** @throws ValidationException when a required field is not set, or a time is out of protobuf's range */
    void validate();

    /**
     * The event in the protobuf binary format.
     *
     * @throws IllegalArgumentException when a value has no protobuf form (a Timestamp or Duration out of range)
     */
    byte[] toByteArray();
}

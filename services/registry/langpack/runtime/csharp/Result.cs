// The C# langpack runtime: every pack carries this file with the namespace
// Clickstream.Runtime replaced by its own (e.g. Clickstream.Events.Web).
using System;
using System.Collections.Generic;

namespace Clickstream.Runtime
{
    /// <summary>Why ingest rejected an event (clickstream.ingest.v1.Rejection).</summary>
    public sealed class Rejection
    {
        /// <summary>A clickstream.ingest.v1.RejectReason name, e.g. "REJECT_REASON_MISSING_REQUIRED_FIELD".</summary>
        public string Reason { get; internal set; }
        public string FieldPath { get; internal set; }
        public string Message { get; internal set; }
        /// <summary>Sending the same event again may succeed.</summary>
        public bool Retryable { get; internal set; }

        public override string ToString()
        {
            return Reason + " " + FieldPath + ": " + Message;
        }
    }

    /// <summary>The verdict on one event.</summary>
    public sealed class Result
    {
        internal Result(string key, IClickstreamEvent evt)
        {
            Key = key;
            Event = evt;
            Status = "EVENT_STATUS_UNSPECIFIED";
        }

        /// <summary>The idempotency key the event was sent with.</summary>
        public string Key { get; private set; }
        public IClickstreamEvent Event { get; private set; }
        /// <summary>EVENT_STATUS_ACCEPTED, EVENT_STATUS_DUPLICATE or EVENT_STATUS_REJECTED.</summary>
        public string Status { get; internal set; }
        /// <summary>Why ingest rejected the event, or null.</summary>
        public Rejection Rejection { get; internal set; }
        /// <summary>Why the event's batch could not be delivered (after the retries that could help), or null.</summary>
        public Exception Error { get; internal set; }

        /// <summary>Ingest has the event: accepted now or earlier.</summary>
        public bool Stored
        {
            get { return Error == null && (Status == "EVENT_STATUS_ACCEPTED" || Status == "EVENT_STATUS_DUPLICATE"); }
        }

        public override string ToString()
        {
            return Key + " " + Status + (Rejection != null ? " " + Rejection : "") + (Error != null ? " " + Error.Message : "");
        }
    }

    /// <summary>A batch could not be delivered.</summary>
    public sealed class SendException : Exception
    {
        public SendException(string message, Exception inner = null) : base(message, inner)
        {
        }
    }
}

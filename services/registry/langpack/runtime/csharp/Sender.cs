// The C# langpack runtime: every pack carries this file with the namespace
// Clickstream.Runtime replaced by its own (e.g. Clickstream.Events.Web).
using System;
using System.Collections.Generic;

namespace Clickstream.Runtime
{
    /// <summary>
    /// Sends events to Clickstream ingest: protobuf JSON over the Connect protocol
    /// (POST /clickstream.ingest.v1.IngestService/SendBatch, application/json).
    /// Every event is validated before anything is sent; retries resend the same
    /// body, so the idempotency keys are kept and ingest stores each event once.
    /// Offline buffering to disk is out of scope.
    /// </summary>
    public sealed class Sender : IDisposable
    {
        /// <summary>The ingest procedure the sender calls.</summary>
        public const string SendBatchPath = "/clickstream.ingest.v1.IngestService/SendBatch";

        private static readonly Random Jitter = new Random();
        private readonly string url;
        private readonly string apiKey;
        private readonly System.Net.Http.HttpClient http;
        private readonly bool ownsHttp;
        private readonly object mu = new object();
        private readonly List<IClickstreamEvent> queue = new List<IClickstreamEvent>();
        private readonly List<string> queueKeys = new List<string>();
        private readonly List<Result> results = new List<Result>();

        /// <summary>Events per request (default 100); Add sends a batch once this many wait.</summary>
        public int BatchSize { get; set; } = 100;
        /// <summary>Attempts per batch, at least 1 (default 5).</summary>
        public int MaxAttempts { get; set; } = 5;
        /// <summary>Bound of the first jittered wait between attempts; doubles per attempt (default 100ms).</summary>
        public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(100);
        /// <summary>Cap of the wait bound (default 5s).</summary>
        public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>A sender to the ingest service at baseUrl, e.g. "https://ingest.example.com".</summary>
        public Sender(string baseUrl, string apiKey = "", System.Net.Http.HttpClient httpClient = null)
        {
            url = baseUrl.TrimEnd('/') + SendBatchPath;
            this.apiKey = apiKey ?? "";
            ownsHttp = httpClient == null;
            http = httpClient ?? new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        }

        public void Dispose()
        {
            Flush();
            if (ownsHttp)
            {
                http.Dispose();
            }
        }

        /// <summary>A fresh idempotency key: 32 hex digits.</summary>
        public static string NewKey()
        {
            return Guid.NewGuid().ToString("N");
        }

        /// <summary>Validates the event, queues it under a new idempotency key and sends a batch when enough wait.</summary>
        public string Add(IClickstreamEvent evt)
        {
            string key = NewKey();
            Add(evt, key);
            return key;
        }

        /// <summary>Add with the caller's idempotency key.</summary>
        public void Add(IClickstreamEvent evt, string key)
        {
            evt.Validate();
            lock (mu)
            {
                queue.Add(evt);
                queueKeys.Add(string.IsNullOrEmpty(key) ? NewKey() : key);
                while (queue.Count >= Math.Max(1, BatchSize))
                {
                    SendQueued(Math.Max(1, BatchSize));
                }
            }
        }

        /// <summary>Sends every queued event and returns the verdicts gathered since the last Flush, in order.</summary>
        public IList<Result> Flush()
        {
            lock (mu)
            {
                while (queue.Count > 0)
                {
                    SendQueued(Math.Min(Math.Max(1, BatchSize), queue.Count));
                }
                var out_ = new List<Result>(results);
                results.Clear();
                return out_;
            }
        }

        private void SendQueued(int n)
        {
            var events = queue.GetRange(0, n);
            var keys = queueKeys.GetRange(0, n);
            queue.RemoveRange(0, n);
            queueKeys.RemoveRange(0, n);
            results.AddRange(SendBatchAsync(events, keys, System.Threading.CancellationToken.None).GetAwaiter().GetResult());
        }

        /// <summary>Validates every event, then sends them at once; one result per event, in order.</summary>
        public IList<Result> Send(params IClickstreamEvent[] events)
        {
            return SendAsync(events, null, System.Threading.CancellationToken.None).GetAwaiter().GetResult();
        }

        /// <summary>Send with the caller's idempotency keys.</summary>
        public IList<Result> Send(IList<IClickstreamEvent> events, IList<string> keys)
        {
            return SendAsync(events, keys, System.Threading.CancellationToken.None).GetAwaiter().GetResult();
        }

        /// <summary>
        /// Validates every event, then sends them in batches under keys (new ones when null); one result per
        /// event, in order. Nothing is sent when an event is invalid. A batch that could not be delivered gives
        /// results whose Error says why.
        /// </summary>
        public async System.Threading.Tasks.Task<IList<Result>> SendAsync(IList<IClickstreamEvent> events, IList<string> keys = null, System.Threading.CancellationToken ct = default(System.Threading.CancellationToken))
        {
            foreach (var e in events)
            {
                e.Validate();
            }
            if (keys != null && keys.Count != events.Count)
            {
                throw new ArgumentException(keys.Count + " idempotency keys for " + events.Count + " events");
            }
            var ks = new List<string>();
            for (int i = 0; i < events.Count; i++)
            {
                ks.Add(keys == null ? NewKey() : keys[i]);
            }
            var all = new List<IClickstreamEvent>(events);
            var out_ = new List<Result>();
            int size = Math.Max(1, BatchSize);
            for (int start = 0; start < all.Count; start += size)
            {
                int n = Math.Min(size, all.Count - start);
                out_.AddRange(await SendBatchAsync(all.GetRange(start, n), ks.GetRange(start, n), ct).ConfigureAwait(false));
            }
            return out_;
        }

        /// <summary>The SendBatchRequest body (protobuf JSON) of events sent under keys.</summary>
        public static string Body(IList<IClickstreamEvent> events, IList<string> keys)
        {
            var w = new JsonWriter();
            w.BeginObject();
            w.Name("events");
            w.BeginArray();
            for (int i = 0; i < events.Count; i++)
            {
                w.BeginObject();
                w.Name("idempotencyKey");
                w.String(keys[i]);
                w.Name("json");
                w.BeginObject();
                w.Name("name");
                w.String(events[i].MessageName);
                w.Name("data");
                events[i].WriteJson(w);
                w.EndObject();
                w.EndObject();
            }
            w.EndArray();
            w.EndObject();
            return w.ToString();
        }

        private async System.Threading.Tasks.Task<List<Result>> SendBatchAsync(List<IClickstreamEvent> events, List<string> keys, System.Threading.CancellationToken ct)
        {
            var out_ = new List<Result>();
            for (int i = 0; i < events.Count; i++)
            {
                out_.Add(new Result(keys[i], events[i]));
            }
            string body = Body(events, keys);
            Exception last = null;
            int attempt = 1;
            for (; ; attempt++)
            {
                bool retry;
                try
                {
                    string answer = await PostAsync(body, ct).ConfigureAwait(false);
                    Decode(answer, out_);
                    for (int i = 0; i < out_.Count; i++)
                    {
                        if (out_[i].Status == "EVENT_STATUS_UNSPECIFIED")
                        {
                            out_[i].Error = new SendException("ingest answered no verdict for event " + i + " (key " + out_[i].Key + ")");
                        }
                    }
                    return out_;
                }
                catch (RetryableException e)
                {
                    last = e;
                    retry = true;
                }
                catch (System.Net.Http.HttpRequestException e)
                {
                    last = e;
                    retry = true;
                }
                catch (System.Threading.Tasks.TaskCanceledException e)
                {
                    // A timeout of the HttpClient, unless the caller canceled.
                    last = e;
                    retry = !ct.IsCancellationRequested;
                }
                catch (SendException e)
                {
                    last = e;
                    retry = false;
                }
                if (!retry || attempt >= Math.Max(1, MaxAttempts))
                {
                    break;
                }
                double bound = InitialBackoff.TotalMilliseconds;
                for (int i = 1; i < attempt && bound < MaxBackoff.TotalMilliseconds; i++)
                {
                    bound *= 2;
                }
                bound = Math.Min(bound, MaxBackoff.TotalMilliseconds);
                double wait;
                lock (Jitter)
                {
                    wait = Jitter.NextDouble() * bound;
                }
                await System.Threading.Tasks.Task.Delay(TimeSpan.FromMilliseconds(wait), ct).ConfigureAwait(false);
            }
            var err = new SendException("send batch of " + events.Count + " events (" + attempt + " attempts): " + last.Message, last);
            foreach (var r in out_)
            {
                r.Error = err;
            }
            return out_;
        }

        private sealed class RetryableException : Exception
        {
            public RetryableException(string message) : base(message)
            {
            }
        }

        private async System.Threading.Tasks.Task<string> PostAsync(string body, System.Threading.CancellationToken ct)
        {
            using (var req = new System.Net.Http.HttpRequestMessage(System.Net.Http.HttpMethod.Post, url))
            {
                req.Content = new System.Net.Http.StringContent(body, System.Text.Encoding.UTF8, "application/json");
                req.Headers.Add("Connect-Protocol-Version", "1");
                if (apiKey.Length > 0)
                {
                    req.Headers.TryAddWithoutValidation("Authorization", "Bearer " + apiKey);
                }
                using (var resp = await http.SendAsync(req, ct).ConfigureAwait(false))
                {
                    string text = await resp.Content.ReadAsStringAsync().ConfigureAwait(false);
                    int status = (int)resp.StatusCode;
                    if (status >= 200 && status < 300)
                    {
                        return text;
                    }
                    // A Connect error: {"code": "unavailable", "message": "…"}.
                    string code = "";
                    try
                    {
                        var err = JsonReader.Parse(text) as Dictionary<string, object>;
                        object c;
                        if (err != null && err.TryGetValue("code", out c) && c is string)
                        {
                            code = (string)c;
                        }
                    }
                    catch (FormatException)
                    {
                    }
                    string detail = "HTTP " + status + (code.Length > 0 ? " " + code : "") + ": " + text;
                    bool retry = code.Length == 0
                        ? status == 429 || status == 502 || status == 503 || status == 504
                        : code == "unavailable" || code == "resource_exhausted" || code == "deadline_exceeded" || code == "aborted";
                    if (retry)
                    {
                        throw new RetryableException(detail);
                    }
                    throw new SendException(detail);
                }
            }
        }

        /// <summary>Reads a SendBatchResponse (protobuf JSON) into the results it answers.</summary>
        private static void Decode(string text, List<Result> out_)
        {
            var resp = JsonReader.Parse(text) as Dictionary<string, object>;
            object list;
            if (resp == null || !resp.TryGetValue("results", out list) || !(list is List<object>))
            {
                return;
            }
            foreach (var item in (List<object>)list)
            {
                var r = item as Dictionary<string, object>;
                if (r == null)
                {
                    continue;
                }
                object v;
                int index = r.TryGetValue("index", out v) && v is double ? (int)(double)v : 0;
                if (index < 0 || index >= out_.Count)
                {
                    continue;
                }
                if (r.TryGetValue("status", out v) && v is string)
                {
                    out_[index].Status = (string)v;
                }
                if (r.TryGetValue("rejection", out v) && v is Dictionary<string, object>)
                {
                    var rej = (Dictionary<string, object>)v;
                    var rejection = new Rejection { Reason = "REJECT_REASON_UNSPECIFIED", FieldPath = "", Message = "" };
                    if (rej.TryGetValue("reason", out v) && v is string) rejection.Reason = (string)v;
                    if (rej.TryGetValue("fieldPath", out v) && v is string) rejection.FieldPath = (string)v;
                    if (rej.TryGetValue("message", out v) && v is string) rejection.Message = (string)v;
                    if (rej.TryGetValue("retryable", out v) && v is bool) rejection.Retryable = (bool)v;
                    out_[index].Rejection = rejection;
                }
            }
        }
    }
}

// hearth for C#: P/Invoke over libhearth with SafeHandles. Works on Mono (mcs/mono) and .NET.
//
//   using (var model = new Hearth.Model("model.gguf"))
//   using (var session = new Hearth.Session(model, nCtx: 2048))
//       session.Generate("Once upon a time", 64, piece => { Console.Write(piece); return true; });
//
// A Model may be shared by any number of threads; a Session is used by one thread at a time, except Cancel().
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Hearth
{
    /// <summary>A failed hearth call: the HEARTH_ERR_* status and the library's message.</summary>
    public class HearthException : Exception
    {
        public const int InvalidArgument = 1, OutOfMemory = 2, IO = 3, BadFormat = 4, Unsupported = 5, ContextFull = 6,
                         Cancelled = 7, BufferTooSmall = 8, Internal = 9;
        public int Status { get; private set; }
        public HearthException(int status, string message) : base(message) { Status = status; }
        internal static void Check(int status)
        {
            if (status != 0) throw new HearthException(status, Native.Str(Native.hearth_last_error()));
        }
    }

    /// <summary>What of a model went to the GPU at load (hearth_gpu_info).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct GpuInfo { public uint StructSize; public int GpuOffload; public ulong VramBudgetBytes, VramWeightBytes; public int NLayerAttention, OutputOnGpu; public double NeuronFraction, FiringShare; }

    /// <summary>The sampler's settings (hearth_sampler_params). Default() reads the library's defaults rather than
    /// restating them, so every binding samples alike; its Seed is SeedRandom, a fresh seed each time it is set.</summary>
    public struct SamplerParams
    {
        public const ulong SeedRandom = ulong.MaxValue;
        public float Temperature;   // <= 0: greedy
        public int TopK;            // <= 0: off
        public float TopP;          // >= 1: off
        public float MinP;          // <= 0: off
        public float RepeatPenalty; // 1: off
        public int RepeatLastN;
        public ulong Seed;
        public static SamplerParams Default()
        {
            var p = new Native.SamplerParams();
            Native.hearth_sampler_params_init(ref p);
            return new SamplerParams { Temperature = p.Temperature, TopK = p.TopK, TopP = p.TopP, MinP = p.MinP,
                                       RepeatPenalty = p.RepeatPenalty, RepeatLastN = p.RepeatLastN, Seed = p.Seed };
        }
    }

    /// <summary>Load settings (hearth_model_params); unset members keep the library's defaults.</summary>
    public sealed class ModelOptions
    {
        public bool VocabOnly;       // only the tokenizer (no weights needed in the file)
        public bool Prefault;        // read every weight once at load so the first tokens do not page-fault
        public int GpuOffload;       // Model.Gpu*; 0 is GpuAuto, the default
        public ulong VramBudgetBytes; // 0: free memory minus a margin
        public int GpuNCtx;          // the context the GPU layers' KV cache is budgeted for; 0: min(training, 4096)
        public int GpuNLayers;       // GpuLayers mode: at most this many layers, as llama.cpp's -ngl; 0: as the budget holds
        public bool NoRepack;        // keep every weight as the file has it: no row groups for decode
        public string GpuidxPath;    // a PowerInfer .gpuidx giving the hot neurons; null: the placement solver decides
        /// <summary>Called with the fraction loaded; return false to abort the load (HearthException with Cancelled),
        /// as every callback of the bindings does. An exception thrown by it aborts the load and is rethrown.</summary>
        public Func<float, bool> Progress;
    }

    /// <summary>What the FFNs did since the session was created (hearth_sparse_stats).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SparseStats { public uint StructSize; public int Mode; public ulong Tokens; public double ActiveFraction, DecodeBytesPerToken, PredictorMs, TotalMs, GpuNeuronShare, GpuBytesPerToken; public int UsesGpu; }

    /// <summary>Counts and times of the last generation (hearth_perf).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Perf { public uint StructSize; public int NPrompt, NGenerated; public double PromptMs, GenerateMs; }

    internal static class Native
    {
        const string Lib = "hearth";

        [StructLayout(LayoutKind.Sequential)]
        internal struct ModelParams { public uint StructSize; public int VocabOnly; public IntPtr Progress; public IntPtr ProgressUser; public int Prefault; public int GpuOffload; public ulong VramBudgetBytes; public IntPtr GpuidxPath; public int GpuNCtx; public int GpuNLayers; public int NoRepack; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct SessionParams { public uint StructSize; public int NCtx, NBatch, NThreads, SparseMode; public float CatsSparsity; public ulong MaxMemoryBytes; public int TypeK, TypeV; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct SamplerParams { public uint StructSize; public float Temperature; public int TopK; public float TopP, MinP, RepeatPenalty; public int RepeatLastN; public ulong Seed; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct GenerateParams { public uint StructSize; public int NPredict, AddBos, StopAtEog; public IntPtr OnToken; public IntPtr User; }

        [StructLayout(LayoutKind.Sequential)]
        internal struct ChatMessage { public IntPtr Role, Content; }
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_chat_apply_template(IntPtr m, IntPtr tmpl, ChatMessage[] messages, UIntPtr n, int addAssistant, byte[] buf, UIntPtr cap, out UIntPtr nOut);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_chat_builtin_templates();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_chat_detect_template(IntPtr tmpl);

        internal static IntPtr Utf8Alloc(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            IntPtr p = Marshal.AllocHGlobal(b.Length + 1);
            Marshal.Copy(b, 0, p, b.Length);
            Marshal.WriteByte(p, b.Length, 0);
            return p;
        }

        internal delegate int Fill(byte[] buf, UIntPtr cap, out UIntPtr n);

        // The C API's snprintf convention in one place: fill with a buffer of `first` bytes, and once more with one of
        // the size it reported when that was too small. Returns the status; text holds the bytes written (or null).
        internal static int Text(Fill fill, int first, out byte[] text)
        {
            var buf = new byte[first];
            UIntPtr n;
            int st = fill(buf, (UIntPtr)buf.Length, out n);
            if (st == HearthException.BufferTooSmall || (st == 0 && (int)n >= buf.Length))
            {
                buf = new byte[(int)n + 1];
                st = fill(buf, (UIntPtr)buf.Length, out n);
            }
            text = null;
            if (st == 0) { text = buf; Array.Resize(ref text, (int)n); }
            return st;
        }
        internal static string TextString(Fill fill, int first)
        {
            byte[] t;
            HearthException.Check(Text(fill, first, out t));
            return Encoding.UTF8.GetString(t);
        }

        // Formats a conversation; model is IntPtr.Zero for a named or given template without a model.
        internal static string Chat(IntPtr model, string template, IList<KeyValuePair<string, string>> messages, bool addAssistant)
        {
            var owned = new List<IntPtr>();
            try
            {
                var msgs = new ChatMessage[Math.Max(1, messages.Count)];
                for (int i = 0; i < messages.Count; i++)
                {
                    msgs[i].Role = Utf8Alloc(messages[i].Key); owned.Add(msgs[i].Role);
                    msgs[i].Content = Utf8Alloc(messages[i].Value); owned.Add(msgs[i].Content);
                }
                IntPtr t = IntPtr.Zero;
                if (template != null) { t = Utf8Alloc(template); owned.Add(t); }
                return TextString((byte[] b, UIntPtr c, out UIntPtr n) =>
                    hearth_chat_apply_template(model, t, msgs, (UIntPtr)messages.Count, addAssistant ? 1 : 0, b, c, out n), 256);
            }
            finally
            {
                foreach (IntPtr p in owned) Marshal.FreeHGlobal(p);
            }
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenFn(int token, IntPtr piece, UIntPtr len, IntPtr user);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int ProgressFn(float progress, IntPtr user);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogFn(int level, IntPtr msg, IntPtr user);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint hearth_version();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint hearth_abi_version();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_set_log_callback(LogFn fn, IntPtr user, int maxLevel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_n_ctx_train(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_n_embd(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ulong hearth_model_n_params(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ulong hearth_model_size_bytes(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ulong hearth_model_repacked_bytes(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_eos(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_desc(ModelHandle m, byte[] buf, UIntPtr cap, out UIntPtr n);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_n_ctx(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_session_mode(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_session_last_error(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_set_threshold(SessionHandle s, int layer, float threshold);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_reset_stats(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_perf(SessionHandle s, ref Perf perf);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_version_string();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_last_error();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_status_string(int status);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern UIntPtr hearth_sizeof(byte[] name);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_cpu_isa();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_gpu_count();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_model_params_init(ref ModelParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_load(byte[] path, ref ModelParams p, out ModelHandle model);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_model_free(IntPtr model);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_n_vocab(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_n_layer(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_bos(ModelHandle m);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_token_is_eog(ModelHandle m, int token);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_gpu_info(ModelHandle m, ref GpuInfo info);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_model_meta(ModelHandle m, byte[] key, byte[] buf, UIntPtr cap, out UIntPtr n);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_tokenize(ModelHandle m, byte[] text, UIntPtr len, int flags, int[] outTokens, UIntPtr cap, out UIntPtr n);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_detokenize(ModelHandle m, int[] tokens, UIntPtr nTokens, int flags, byte[] buf, UIntPtr cap, out UIntPtr n);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_session_params_init(ref SessionParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_create(ModelHandle m, ref SessionParams p, out SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_session_free(IntPtr s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_reset(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_truncate(SessionHandle s, int nKeep);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_state_size(SessionHandle s, out UIntPtr size);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_state_save(SessionHandle s, byte[] buf, UIntPtr cap, out UIntPtr written);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_state_load(SessionHandle s, byte[] buf, UIntPtr size);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_state_save_file(SessionHandle s, IntPtr path);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_state_load_file(SessionHandle s, IntPtr path);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_n_past(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_session_cancel(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_eval(SessionHandle s, int[] tokens, int n, int allLogits);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_sampler_params_init(ref SamplerParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_set_sampler(SessionHandle s, ref SamplerParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void hearth_generate_params_init(ref GenerateParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_generate(SessionHandle s, byte[] prompt, ref GenerateParams p);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ulong hearth_session_seed(SessionHandle s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_sample(SessionHandle s, out int token);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr hearth_session_logits(SessionHandle s, int i);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_feed(SessionHandle s, byte[] text, UIntPtr len, int flags);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_step(SessionHandle s, out int token);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_session_sparse_stats(SessionHandle s, ref SparseStats stats);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int hearth_token_to_piece(ModelHandle m, int token, int flags, byte[] buf, UIntPtr cap, out UIntPtr n);

        internal static string Str(IntPtr p) { return p == IntPtr.Zero ? "" : Utf8(p); }
        static string Utf8(IntPtr p)
        {
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }
        internal static byte[] Z(string s) { return Encoding.UTF8.GetBytes(s + "\0"); }

        static bool layoutChecked;
        internal static void CheckLayout()
        {
            if (layoutChecked) return;
            var sizes = new Dictionary<string, int> {
                { "hearth_model_params", Marshal.SizeOf(typeof(ModelParams)) },
                { "hearth_session_params", Marshal.SizeOf(typeof(SessionParams)) },
                { "hearth_sampler_params", Marshal.SizeOf(typeof(SamplerParams)) },
                { "hearth_generate_params", Marshal.SizeOf(typeof(GenerateParams)) },
                { "hearth_gpu_info", Marshal.SizeOf(typeof(GpuInfo)) },
                { "hearth_sparse_stats", Marshal.SizeOf(typeof(SparseStats)) },
                { "hearth_perf", Marshal.SizeOf(typeof(Perf)) },
            };
            foreach (var kv in sizes)
            {
                int got = (int)hearth_sizeof(Z(kv.Key)).ToUInt64();
                if (got != kv.Value)
                    throw new HearthException(HearthException.InvalidArgument,
                        string.Format("{0} is {1} bytes in libhearth but {2} in this binding", kv.Key, got, kv.Value));
            }
            layoutChecked = true;
        }
    }

    internal sealed class ModelHandle : SafeHandle
    {
        public ModelHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.hearth_model_free(handle); return true; }
    }

    internal sealed class SessionHandle : SafeHandle
    {
        public SessionHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.hearth_session_free(handle); return true; }
    }

    public static class Library
    {
        public static string Version { get { return Native.Str(Native.hearth_version_string()); } }
        public static string CpuIsa { get { return Native.Str(Native.hearth_cpu_isa()); } }
        public static int GpuCount { get { return Native.hearth_gpu_count(); } }
        /// <summary>HEARTH_VERSION_NUMBER of the loaded library: major * 10000 + minor * 100 + patch.</summary>
        public static int VersionNumber { get { return (int)Native.hearth_version(); } }
        /// <summary>The hearth.h this binding mirrors; AbiVersion is the loaded library's.</summary>
        public const int HeaderAbiVersion = 1;
        public static int AbiVersion { get { return (int)Native.hearth_abi_version(); } }

        public const int LogError = 0, LogWarn = 1, LogInfo = 2, LogDebug = 3;
        static Native.LogFn logTrampoline; // the library holds a pointer to it: keep it alive
        static Action<int, string> logSink;

        /// <summary>Sends the library's messages at maxLevel or below to fn, from any library thread; null silences the
        /// library (its default). Global to the process: set it before other use. An exception thrown by fn is dropped
        /// (there is no caller to give it to).</summary>
        public static void SetLogCallback(Action<int, string> fn, int maxLevel = LogWarn)
        {
            logSink = fn;
            if (fn == null) { Native.hearth_set_log_callback(null, IntPtr.Zero, maxLevel); return; }
            if (logTrampoline == null)
                logTrampoline = (level, msg, user) => {
                    try { var f = logSink; if (f != null) f(level, Native.Str(msg)); }
                    catch (Exception) { } // never let it unwind into C
                };
            Native.hearth_set_log_callback(logTrampoline, IntPtr.Zero, maxLevel);
        }

        /// <summary>Formats a conversation (role, content: "system", "user", "assistant") with a built-in template name or a
        /// template text hearth recognises. Tokenize the result with BOS and special-token parsing.</summary>
        public static string ChatApplyTemplate(string template, IList<KeyValuePair<string, string>> messages, bool addAssistant = true)
        {
            if (template == null) throw new ArgumentNullException("template");
            return Native.Chat(IntPtr.Zero, template, messages, addAssistant);
        }
        public static string[] ChatBuiltinTemplates { get { return Native.Str(Native.hearth_chat_builtin_templates()).Split(new[] { ", " }, StringSplitOptions.None); } }
        /// <summary>The built-in format a template text is recognised as, or null.</summary>
        public static string ChatDetectTemplate(string template)
        {
            IntPtr t = Native.Utf8Alloc(template);
            try { IntPtr r = Native.hearth_chat_detect_template(t); return r == IntPtr.Zero ? null : Native.Str(r); }
            finally { Marshal.FreeHGlobal(t); }
        }
    }

    /// <summary>A loaded model file: immutable, shareable across threads.</summary>
    public sealed class Model : IDisposable
    {
        internal readonly ModelHandle Handle;

        public Model(string path, ModelOptions options = null)
        {
            Native.CheckLayout();
            var p = new Native.ModelParams();
            Native.hearth_model_params_init(ref p);
            Exception error = null;
            Native.ProgressFn cb = null;
            IntPtr gpuidx = IntPtr.Zero;
            if (options != null)
            {
                p.VocabOnly = options.VocabOnly ? 1 : 0;
                p.Prefault = options.Prefault ? 1 : 0;
                p.GpuOffload = options.GpuOffload;
                p.VramBudgetBytes = options.VramBudgetBytes;
                p.GpuNCtx = options.GpuNCtx;
                p.GpuNLayers = options.GpuNLayers;
                p.NoRepack = options.NoRepack ? 1 : 0;
                if (options.GpuidxPath != null) gpuidx = p.GpuidxPath = Native.Utf8Alloc(options.GpuidxPath);
                Func<float, bool> progress = options.Progress;
                if (progress != null)
                {
                    cb = (fraction, user) => {
                        try { return progress(fraction) ? 1 : 0; }
                        catch (Exception e) { error = e; return 0; } // never let it unwind into C
                    };
                    p.Progress = Marshal.GetFunctionPointerForDelegate(cb);
                }
            }
            ModelHandle h;
            int st;
            try { st = Native.hearth_model_load(Native.Z(path), ref p, out h); }
            finally { if (gpuidx != IntPtr.Zero) Marshal.FreeHGlobal(gpuidx); GC.KeepAlive(cb); }
            if (st != 0) h.Dispose();
            if (error != null) throw new InvalidOperationException("the progress callback threw", error);
            HearthException.Check(st);
            Handle = h;
        }

        public int NVocab { get { return Native.hearth_model_n_vocab(Live()); } }
        public int NLayer { get { return Native.hearth_model_n_layer(Live()); } }
        public int Bos { get { return Native.hearth_model_bos(Live()); } }
        public int Eos { get { return Native.hearth_model_eos(Live()); } }
        public int NCtxTrain { get { return Native.hearth_model_n_ctx_train(Live()); } }
        public int NEmbd { get { return Native.hearth_model_n_embd(Live()); } }
        public ulong NParams { get { return Native.hearth_model_n_params(Live()); } }
        /// <summary>Bytes of weights.</summary>
        public ulong SizeBytes { get { return Native.hearth_model_size_bytes(Live()); } }
        /// <summary>Bytes of weights repacked into row groups at load for the CPU's decode (0 with NoRepack).</summary>
        public ulong RepackedBytes { get { return Native.hearth_model_repacked_bytes(Live()); } }
        /// <summary>One line: "llama 1.1B Q4_0, 22 layers, ...".</summary>
        public string Description
        {
            get
            {
                ModelHandle h = Live();
                return Native.TextString((byte[] b, UIntPtr c, out UIntPtr n) => Native.hearth_model_desc(h, b, c, out n), 512);
            }
        }
        public bool IsEog(int token) { return Native.hearth_token_is_eog(Live(), token) != 0; }

        internal ModelHandle Live()
        {
            if (Handle.IsClosed) throw new ObjectDisposedException("Model");
            return Handle;
        }

        /// <summary>GPU offload modes (GpuInfo.GpuOffload).</summary>
        public const int GpuAuto = 0, GpuNone = 1, GpuHybrid = 2, GpuLayers = 3, GpuAttention = 4;

        /// <summary>What of the model went to the GPU at load (GpuOffload is GpuNone when it runs on the CPU).</summary>
        public GpuInfo GpuInfo()
        {
            var g = new GpuInfo { StructSize = (uint)Marshal.SizeOf(typeof(GpuInfo)) };
            HearthException.Check(Native.hearth_model_gpu_info(Live(), ref g));
            return g;
        }

        /// <summary>A metadata value as text, or null when the key is absent.</summary>
        public string Meta(string key)
        {
            ModelHandle h = Live();
            byte[] k = Native.Z(key), text;
            int st = Native.Text((byte[] b, UIntPtr c, out UIntPtr n) => Native.hearth_model_meta(h, k, b, c, out n), 256, out text);
            if (st == HearthException.InvalidArgument) return null;
            HearthException.Check(st);
            return Encoding.UTF8.GetString(text);
        }

        internal static int Flags(bool addBos, bool special) { return (addBos ? 1 : 0) | (special ? 2 : 0); }

        /// <summary>Token ids of UTF-8 text; special parses control tokens (a chat template's marks) as tokens.</summary>
        public int[] Tokenize(byte[] utf8, bool addBos, bool special = false)
        {
            var outTokens = new int[utf8.Length + 8];
            UIntPtr n;
            int flags = Flags(addBos, special);
            int st = Native.hearth_tokenize(Live(), utf8, (UIntPtr)utf8.Length, flags, outTokens, (UIntPtr)outTokens.Length, out n);
            if (st == HearthException.BufferTooSmall)
            {
                outTokens = new int[(int)n];
                st = Native.hearth_tokenize(Live(), utf8, (UIntPtr)utf8.Length, flags, outTokens, (UIntPtr)outTokens.Length, out n);
            }
            HearthException.Check(st);
            Array.Resize(ref outTokens, (int)n);
            return outTokens;
        }

        public int[] Tokenize(string text, bool addBos = true, bool special = false) { return Tokenize(Encoding.UTF8.GetBytes(text), addBos, special); }

        /// <summary>One token's bytes (a token may hold part of a UTF-8 character); with special a control token
        /// gives its text (else nothing).</summary>
        public byte[] TokenToPiece(int token, bool special = false)
        {
            ModelHandle h = Live();
            byte[] piece;
            HearthException.Check(Native.Text((byte[] b, UIntPtr c, out UIntPtr n) =>
                Native.hearth_token_to_piece(h, token, special ? 1 : 0, b, c, out n), 64, out piece));
            return piece;
        }

        public string Detokenize(int[] tokens)
        {
            ModelHandle h = Live();
            return Native.TextString((byte[] b, UIntPtr c, out UIntPtr n) =>
                Native.hearth_detokenize(h, tokens, (UIntPtr)tokens.Length, 0, b, c, out n), 256);
        }

        /// <summary>Formats a conversation with the model's chat template (template null) or the given one.</summary>
        public string ChatApplyTemplate(IList<KeyValuePair<string, string>> messages, string template = null, bool addAssistant = true)
        {
            bool added = false;
            try
            {
                ModelHandle h = Live();  // throws once disposed
                h.DangerousAddRef(ref added);
                return Native.Chat(h.DangerousGetHandle(), template, messages, addAssistant);
            }
            finally
            {
                if (added) Handle.DangerousRelease();
            }
        }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>A conversation's state on a model. One thread at a time; Cancel() from any thread.</summary>
    public sealed class Session : IDisposable
    {
        readonly SessionHandle handle;
        readonly Model model; // keeps the model alive while the session is

        /// <summary>KV cache element types (typeK, typeV).</summary>
        public const int KvDefault = 0, KvF32 = 1, KvF16 = 2, KvQ8_0 = 3;

        /// <summary>Zero values take the library's defaults: the model's context (capped), all cores, the FFN mode
        /// the file allows, CATS sparsity 0.5, the machine's available memory, an F16 KV cache.</summary>
        public Session(Model model, int nCtx = 0, int nThreads = 0, int sparseMode = 0, ulong maxMemoryBytes = 0,
                       int nBatch = 0, float catsSparsity = 0, int typeK = KvDefault, int typeV = KvDefault)
        {
            var p = new Native.SessionParams();
            Native.hearth_session_params_init(ref p);
            p.NCtx = nCtx;
            p.NThreads = nThreads;
            p.SparseMode = sparseMode;
            p.MaxMemoryBytes = maxMemoryBytes;
            if (nBatch > 0) p.NBatch = nBatch;
            if (catsSparsity != 0) p.CatsSparsity = catsSparsity;
            p.TypeK = typeK;
            p.TypeV = typeV;
            SessionHandle h;
            int st = Native.hearth_session_create(model.Live(), ref p, out h);
            if (st != 0) { h.Dispose(); HearthException.Check(st); }
            handle = h;
            this.model = model;
        }

        SessionHandle Live()
        {
            if (handle.IsClosed) throw new ObjectDisposedException("Session");
            return handle;
        }

        public int NPast { get { return Native.hearth_session_n_past(Live()); } }
        public int NCtx { get { return Native.hearth_session_n_ctx(Live()); } }
        /// <summary>How the FFNs run ("dense", "sparse (predictor)", ...).</summary>
        public string Mode { get { return Native.Str(Native.hearth_session_mode(Live())); } }
        /// <summary>The message of this session's last failed call ("" if none), as its HearthException carried.</summary>
        public string LastError { get { return Native.Str(Native.hearth_session_last_error(Live())); } }
        /// <summary>Overrides the activation threshold of one layer (-1: every layer) for the predictor and CATS modes.</summary>
        public void SetThreshold(int layer, float threshold) { HearthException.Check(Native.hearth_session_set_threshold(Live(), layer, threshold)); }
        /// <summary>Zeroes the counters SparseStats reports.</summary>
        public void ResetStats() { HearthException.Check(Native.hearth_session_reset_stats(Live())); }
        /// <summary>Counts and times of the last Generate or Step run.</summary>
        public Perf Perf()
        {
            var p = new Perf { StructSize = (uint)Marshal.SizeOf(typeof(Perf)) };
            HearthException.Check(Native.hearth_session_perf(Live(), ref p));
            return p;
        }
        public void Reset() { HearthException.Check(Native.hearth_session_reset(Live())); }
        /// <summary>Keeps the first nKeep evaluated tokens and forgets the rest of the context (and queued input).</summary>
        public void Truncate(int nKeep) { HearthException.Check(Native.hearth_session_truncate(Live(), nKeep)); }

        /// <summary>The session's state (context, last logits, queued input, the sampler's generator) for LoadState.</summary>
        public byte[] SaveState()
        {
            UIntPtr n;
            HearthException.Check(Native.hearth_session_state_size(Live(), out n));
            var buf = new byte[(long)n.ToUInt64()];
            HearthException.Check(Native.hearth_session_state_save(Live(), buf, (UIntPtr)buf.Length, out n));
            return buf;
        }
        /// <summary>Restores a state from SaveState; a refused one leaves the session as it was.</summary>
        public void LoadState(byte[] state)
        {
            HearthException.Check(Native.hearth_session_state_load(Live(), state, (UIntPtr)state.Length));
        }
        /// <summary>SaveState's bytes into a file, written whole or not at all.</summary>
        public void SaveStateFile(string path) { WithPath(path, p => Native.hearth_session_state_save_file(Live(), p)); }
        public void LoadStateFile(string path) { WithPath(path, p => Native.hearth_session_state_load_file(Live(), p)); }
        static void WithPath(string path, Func<IntPtr, int> call)
        {
            IntPtr p = Native.Utf8Alloc(path);
            try { HearthException.Check(call(p)); } finally { Marshal.FreeHGlobal(p); }
        }
        public void Cancel() { if (!handle.IsClosed) Native.hearth_session_cancel(handle); }

        /// <summary>Sets the sampler and re-seeds it (a fresh seed for SamplerParams.SeedRandom, the default).</summary>
        public void SetSampler(SamplerParams o)
        {
            var p = new Native.SamplerParams();
            Native.hearth_sampler_params_init(ref p);
            p.Temperature = o.Temperature; p.TopK = o.TopK; p.TopP = o.TopP; p.MinP = o.MinP;
            p.RepeatPenalty = o.RepeatPenalty; p.RepeatLastN = o.RepeatLastN; p.Seed = o.Seed;
            HearthException.Check(Native.hearth_session_set_sampler(Live(), ref p));
        }

        /// <summary>Temperature 0; the other settings the library's.</summary>
        public void SetGreedy()
        {
            var p = SamplerParams.Default();
            p.Temperature = 0;
            SetSampler(p);
        }

        /// <summary>The seed the sampler was last set with: the one given, or the one drawn for SeedRandom; set it
        /// again to repeat a run.</summary>
        public ulong Seed { get { return Native.hearth_session_seed(Live()); } }

        /// <summary>Evaluates tokens after those the session holds; with allLogits every token's logits are kept.</summary>
        public void Eval(int[] tokens, bool allLogits = false) { HearthException.Check(Native.hearth_session_eval(Live(), tokens, tokens.Length, allLogits ? 1 : 0)); }

        /// <summary>A copy of the logits of token i of the last eval (-1: its last), or null if they were not kept.</summary>
        public float[] Logits(int i = -1)
        {
            IntPtr l = Native.hearth_session_logits(Live(), i);
            if (l == IntPtr.Zero) return null;
            var v = new float[model.NVocab];
            Marshal.Copy(l, v, 0, v.Length);
            return v;
        }

        /// <summary>Draws a token from the last logits (recorded for the repetition penalty, not evaluated).</summary>
        public int Sample()
        {
            int t;
            HearthException.Check(Native.hearth_session_sample(Live(), out t));
            return t;
        }

        /// <summary>Queues text for Step (tokenized now).</summary>
        public void Feed(string text, bool addBos = true, bool special = false)
        {
            byte[] b = Encoding.UTF8.GetBytes(text);
            HearthException.Check(Native.hearth_session_feed(Live(), b, (UIntPtr)b.Length, Model.Flags(addBos, special)));
        }

        /// <summary>One bounded piece of work: null after evaluating a chunk of queued input, else the token it
        /// sampled and evaluated (check Model.IsEog to stop).</summary>
        public int? Step()
        {
            int t;
            HearthException.Check(Native.hearth_session_step(Live(), out t));
            return t < 0 ? (int?)null : t;
        }

        public SparseStats SparseStats()
        {
            var st = new SparseStats { StructSize = (uint)Marshal.SizeOf(typeof(SparseStats)) };
            HearthException.Check(Native.hearth_session_sparse_stats(Live(), ref st));
            return st;
        }

        /// <summary>Streams the continuation of prompt to onPiece (whole UTF-8 characters); return false to stop.
        /// An exception thrown by onPiece stops the generation and is rethrown here.</summary>
        public void Generate(string prompt, int maxTokens, Func<string, bool> onPiece, bool addBos = true, bool stopAtEog = true)
        {
            Exception error = null;
            Native.TokenFn cb = (token, piece, len, user) => {
                try
                {
                    var b = new byte[(int)len];
                    Marshal.Copy(piece, b, 0, b.Length);
                    return onPiece(Encoding.UTF8.GetString(b)) ? 0 : 1;
                }
                catch (Exception e) { error = e; return 1; } // never let it unwind into C
            };
            var p = new Native.GenerateParams();
            Native.hearth_generate_params_init(ref p);
            p.NPredict = maxTokens;
            p.AddBos = addBos ? 1 : 0;
            p.StopAtEog = stopAtEog ? 1 : 0;
            p.OnToken = Marshal.GetFunctionPointerForDelegate(cb);
            int st = Native.hearth_generate(Live(), Native.Z(prompt), ref p);
            GC.KeepAlive(cb);
            GC.KeepAlive(model);
            if (error != null) throw new InvalidOperationException("the token callback threw", error);
            HearthException.Check(st);
        }

        public void Dispose() { handle.Dispose(); }
    }
}

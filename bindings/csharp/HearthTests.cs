// The C# binding's suite: a plain console runner (prints "N passed, N failed"; exit code 1 on any failure).
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using Hearth;

static class HearthTests
{
    static int passed, failed;
    static string modelPath;

    static void Test(string name, Action body)
    {
        try { body(); passed++; Console.WriteLine("ok   " + name); }
        catch (Exception e) { failed++; Console.WriteLine("FAIL " + name + ": " + e); }
    }

    static void Assert(bool cond, string what) { if (!cond) throw new Exception("assertion failed: " + what); }

    static T Throws<T>(Action a) where T : Exception
    {
        try { a(); } catch (T e) { return e; }
        throw new Exception("expected " + typeof(T).Name);
    }

    static string Run(Session s, string prompt, int n)
    {
        var sb = new StringBuilder();
        s.Generate(prompt, n, p => { sb.Append(p); return true; });
        return sb.ToString();
    }

    static int Main()
    {
        modelPath = Environment.GetEnvironmentVariable("HEARTH_TEST_MODEL");
        if (string.IsNullOrEmpty(modelPath)) { Console.WriteLine("HEARTH_TEST_MODEL is not set"); return 1; }

        Test("version", () => Assert(Library.Version.Split('.').Length == 3 && Library.GpuCount >= 0 && Library.CpuIsa.Length > 0, "version"));
        Test("missing file", () => {
            var e = Throws<HearthException>(() => new Model("/nonexistent/m.gguf"));
            Assert(e.Status == HearthException.IO && e.Message.Contains("cannot open"), e.Message);
        });
        Test("corrupt file", () => {
            string path = Path.GetTempFileName();
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"));
            var e = Throws<HearthException>(() => new Model(path));
            File.Delete(path);
            Assert(e.Status == HearthException.BadFormat, e.Message);
        });
        Test("chat templates", () => {
            var msgs = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("system", "S"), new KeyValuePair<string, string>("user", "Hi") };
            string got = Library.ChatApplyTemplate("chatml", msgs);
            Assert(got == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", got);
            Assert(Library.ChatDetectTemplate("<start_of_turn>") == "gemma" && Library.ChatDetectTemplate("plain") == null, "detect");
            Assert(Array.IndexOf(Library.ChatBuiltinTemplates, "llama3") >= 0, "names");
            var e = Throws<HearthException>(() => Library.ChatApplyTemplate("{% macro m() %}{% endmacro %}", msgs));
            Assert(e.Status == HearthException.Unsupported && e.Message.Contains("chatml"), e.Message);
            var bad = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("narrator", "x") };
            e = Throws<HearthException>(() => Library.ChatApplyTemplate("chatml", bad));
            Assert(e.Status == HearthException.InvalidArgument, e.Message);
            using (var m = new Model(modelPath))
            {
                e = Throws<HearthException>(() => m.ChatApplyTemplate(msgs));
                Assert(e.Message.Contains("no chat template"), e.Message);
                Assert(m.ChatApplyTemplate(msgs, "zephyr").StartsWith("<|system|>\nS"), "zephyr");
            }
        });
        using (var model = new Model(modelPath))
        {
            Test("metadata and tokenizer", () => {
                Assert(model.NVocab > 100 && model.NLayer > 0, "shape");
                Assert(model.Meta("general.architecture") == "llama", "arch");
                Assert(model.Meta("no.such.key") == null, "absent key");
                var gi = model.GpuInfo();
                Assert(gi.VramWeightBytes <= gi.VramBudgetBytes, "GPU weights within the budget");
                if (Library.GpuCount == 0 && Environment.GetEnvironmentVariable("HEARTH_EMULATE_GPU") == null)
                    Assert(gi.GpuOffload == Model.GpuNone, "no GPU: no offload");
                string text = "The hearth keeps the house warm.";
                int[] toks = model.Tokenize(text);
                Assert(toks[0] == model.Bos, "bos");
                var rest = new int[toks.Length - 1];
                Array.Copy(toks, 1, rest, 0, rest.Length);
                Assert(model.Detokenize(rest) == text, "round trip");
                var e = Throws<HearthException>(() => model.Tokenize(new byte[] { 0x61, 0xff }, false));
                Assert(e.Status == HearthException.InvalidArgument, "bad UTF-8");
            });
            Test("streaming generation", () => {
                using (var s = new Session(model, 256))
                {
                    s.SetGreedy();
                    string a = Run(s, "Once upon a time", 16);
                    s.Reset();
                    Assert(a.Length > 0 && a == Run(s, "Once upon a time", 16), "reproducible");
                    s.Reset();
                    int n = 0;
                    s.Generate("Hello", 50, p => ++n < 3);
                    Assert(n == 3, "callback stops");
                    s.Reset();
                    Throws<InvalidOperationException>(() => s.Generate("Hello", 50, p => { throw new ArgumentException("boom"); }));
                }
            });
            Test("cancel from another thread", () => {
                using (var s = new Session(model, 512))
                {
                    var t = new Thread(s.Cancel);
                    t.Start();
                    t.Join();
                    var e = Throws<HearthException>(() => Run(s, "Hello", 400));
                    Assert(e.Status == HearthException.Cancelled, "cancelled");
                    s.Reset();
                    Run(s, "Hello", 4); // consumed
                    s.Reset();
                    var timer = new Timer(_ => s.Cancel(), null, 5, Timeout.Infinite);
                    try { Run(s, "Hello", 400); }
                    catch (HearthException ex) { Assert(ex.Status == HearthException.Cancelled, "race"); }
                    timer.Dispose();
                }
            });
            Test("memory limit", () => {
                var e = Throws<HearthException>(() => new Session(model, 1 << 16, 0, 0, 1UL << 20));
                Assert(e.Status == HearthException.OutOfMemory, "a session over its memory limit is refused");
                Assert(e.Message.Contains("KV cache"), "with the figure");
                using (var s = new Session(model, 64, 0, 0, 1UL << 30)) s.Eval(new[] { 1, 2, 3 });
            });
            Test("context overflow and misuse", () => {
                var s = new Session(model, 16);
                var toks = new int[40];
                for (int i = 0; i < toks.Length; i++) toks[i] = 3 + i;
                var e = Throws<HearthException>(() => s.Eval(toks));
                Assert(e.Status == HearthException.ContextFull, "overflow");
                s.Dispose();
                s.Dispose();
                Throws<ObjectDisposedException>(() => s.Eval(new[] { 1 }));
            });
            Test("one model, many threads", () => {
                var results = new string[4];
                var threads = new List<Thread>();
                for (int i = 0; i < results.Length; i++)
                {
                    int k = i;
                    var t = new Thread(() => {
                        using (var s = new Session(model, 128, 1)) { s.SetGreedy(); results[k] = Run(s, "The house", 8); }
                    });
                    threads.Add(t);
                    t.Start();
                }
                foreach (var t in threads) t.Join();
                foreach (var r in results) Assert(r == results[0] && r != null, "same greedy text on every thread");
            });
        }
        Console.WriteLine(string.Format("{0} passed, {1} failed", passed, failed));
        return failed == 0 ? 0 : 1;
    }
}

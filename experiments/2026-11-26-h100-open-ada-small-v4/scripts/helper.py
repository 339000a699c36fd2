"""Device-run helpers: calibration config, step-rate parsing, selection and packing."""
import json, re, sys, time
from datetime import datetime
from pathlib import Path

def calib_config(src, dst, out_dir):
    c = json.loads(Path(src).read_text())
    c.update(output_dir=out_dir, max_distill_texts=20000, eval_steps=0, save_steps=10**6, logging_steps=50)
    Path(dst).write_text(json.dumps(c, indent=2))

def rate(log, launched):
    """(seconds from launch to step 0, steps/s between the 100th and the last logged step) from a loguru log."""
    pts = []  # tqdm's carriage returns share lines with the log, so search the whole text
    for m in re.finditer(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \| INFO[^\n]*? step (\d+)/(\d+): (\w+)",
                         Path(log).read_text(errors="replace")):
        if m.group(4) != "train_runtime":
            pts.append((int(m.group(2)), datetime.fromisoformat(m.group(1)).timestamp()))
    pts = [p for p in pts if p[0] >= 100]
    (s0, t0), (s1, t1) = pts[0], pts[-1]
    r = (s1 - s0) / (t1 - t0)
    return t0 - s0 / r - launched, r

def steps(log, launched, seconds, startup_extra):
    startup, r = rate(log, launched)
    n = int(r * max(0.0, seconds - startup - startup_extra) * 0.92)
    print(f"{log}: startup {startup:.0f}s, {r:.1f} steps/s -> {n} steps in {seconds:.0f}s", file=sys.stderr)
    return max(500, n // 100 * 100)

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "smokecfg":  # tiny batches for a CPU rehearsal of the device run
        c = json.loads(Path(sys.argv[2]).read_text())
        c.update(batch_size=16, eval_steps=20, save_steps=10, dataloader_num_workers=1)
        Path(sys.argv[3]).write_text(json.dumps(c, indent=2))
    elif cmd == "derive":  # SRC DST key=json-value ...: a config with some fields changed
        c = json.loads(Path(sys.argv[2]).read_text())
        c.update({k: json.loads(v) for k, v in (a.split("=", 1) for a in sys.argv[4:])})
        Path(sys.argv[3]).write_text(json.dumps(c, indent=2))
    elif cmd == "calib":
        calib_config(*sys.argv[2:5])
    elif cmd == "steps":
        print(steps(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])))
    elif cmd == "best":  # eval JSONs -> the run folder whose model has the best STS-B dev
        scores = {}
        for path in sys.argv[2:]:
            r = json.loads(Path(path).read_text())["results"][0]
            scores[r["model"]] = r["stsb"]["dev"]
            print(f"{r['model']}: dev {r['stsb']['dev']:.2f} test {r['stsb']['test']:.2f} "
                  f"{ {k: round(v['ndcg@10'], 2) for k, v in r['retrieval'].items()} }", file=sys.stderr)
        print(max(scores, key=scores.get))
    elif cmd == "half":  # model folder -> fp16 weights in place
        import torch
        from safetensors.torch import load_file, save_file
        f = Path(sys.argv[2]) / "model.safetensors"
        w = load_file(f)
        save_file({k: v.half() if v.is_floating_point() else v for k, v in w.items()}, f, metadata={"format": "pt"})

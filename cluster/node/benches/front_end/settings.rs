//! What a run measures: window, warm-up and concurrency levels, from the environment.

use super::*;

pub(crate) struct Settings {
    pub(crate) secs: f64,
    pub(crate) warmup: f64,
    pub(crate) concurrency: Vec<usize>,
}

pub(crate) fn env_f64(name: &str, default: f64) -> anyhow::Result<f64> {
    match std::env::var(name) {
        Ok(v) => {
            let x: f64 = v
                .trim()
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number"))?;
            if !(0.0..=3600.0).contains(&x) {
                bail!("{name}={v:?} must be within 0..=3600 seconds");
            }
            Ok(x)
        }
        Err(_) => Ok(default),
    }
}

impl Settings {
    pub(crate) fn from_env() -> anyhow::Result<Settings> {
        let secs = env_f64("TESSERA_BENCH_SECS", 5.0)?.max(0.1);
        let warmup = env_f64("TESSERA_BENCH_WARMUP_SECS", 1.0)?;
        let concurrency = match std::env::var("TESSERA_BENCH_N") {
            Ok(v) => v
                .split(',')
                .map(|s| s.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|n| !n.is_empty() && n.iter().all(|&n| (1..=4096).contains(&n)))
                .ok_or_else(|| anyhow!("TESSERA_BENCH_N={v:?}: expected e.g. 1,16,64"))?,
            Err(_) => vec![1, 16, 64],
        };
        Ok(Settings {
            secs,
            warmup,
            concurrency,
        })
    }
}

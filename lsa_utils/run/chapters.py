"""The book's chapters and their scales: the one place where sizes are defined.

A scale is a named set of sizes for one chapter:

- ``smoke``: CI on 2 CPU cores, about 2 minutes a chapter; shows the sign of the phenomenon.
- ``default``: what ``make book`` runs on a laptop CPU; the figures already show the result.
- ``paper``: the papers' own sizes where possible; meant for a GPU.

Every chapter also takes ``seed`` and ``device``; ``Chapter.parameter_names`` lists all knobs a
``-p key=value`` override may set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..validation import check_choice

SCALES = ("smoke", "default", "paper")
COMMON_PARAMETERS = {"seed": 0, "device": "auto"}


@dataclass(frozen=True)
class Chapter:
    """One chapter: its short name, notebook, title, per-scale sizes and measured run times."""

    name: str
    notebook: str  # file name under notebooks/
    title: str
    scales: dict[str, dict[str, Any]]
    # Wall time of each scale, as measured (2-core AMD EPYC, AVX2) or expected (GPU); the README
    # shows the same numbers.
    run_time: dict[str, str] = field(default_factory=dict)
    # The same measurements in seconds (with the data sets), from which `make book` estimates
    # what remains of a run.
    measured_s: dict[str, float] = field(default_factory=dict)
    # Files (relative to the project root) the chapter reads besides its parameters; their
    # contents are part of its cache key.
    extra_inputs: tuple[str, ...] = ()
    # Whether the chapter reads MNIST / CIFAR-10 (else only synthetic data): the data folder and
    # its files are then part of its cache key.
    reads_images: bool = False
    # Allowed values of text parameters (or of each entry of a list of texts).
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.notebook.rsplit(".", 1)[0]

    @property
    def parameter_names(self) -> list[str]:
        return ["scale", *COMMON_PARAMETERS, *self.scales["default"]]

    def sizes(self, scale: str) -> dict[str, Any]:
        check_choice("scale", scale, SCALES)
        return dict(self.scales[scale])


CHAPTERS: dict[str, Chapter] = {
    c.name: c
    for c in [
        Chapter(
            name="lazy_vs_rich",
            notebook="00_lazy_vs_rich.py",
            title="Lazy and rich training of a two-layer network",
            scales={
                "smoke": dict(n_train=16, widths=[64, 256, 1024, 4096, 16384], seeds=3, steps=1000, lr=0.5),
                "default": dict(
                    n_train=16, widths=[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                    seeds=3, steps=2000, lr=0.5,
                ),
                "paper": dict(
                    n_train=16, widths=[2**k for k in range(5, 19)], seeds=20, steps=4000, lr=0.5,
                ),
            },
            run_time={"smoke": "50 s", "default": "2 to 2.5 min", "paper": "impractical on CPU (widths up to 2^18, 20 seeds)"},
            measured_s={"smoke": 49, "default": 128},
        ),
        Chapter(
            name="lsa",
            reads_images=True,
            notebook="01_lsa.py",
            title="Local signal adaptivity: a CNN thresholds out the noise, its NTK cannot",
            scales={
                "smoke": dict(
                    k=1000, d=10, noise_levels=[0.5, 1.0, 1.5], seeds=1, steps=600, batch=500,
                    lr=0.1, eval_every=50, n_eval=2000, separation_k=[30, 100], separation_n=[32, 128, 512],
                    separation_test=2000, separation_steps=2000, separation_kernel_entries=8e9,
                    n_train=300, n_test=300, mnist_n_train=1000, mnist_n_test=500, mnist_strengths=[0.0, 2.0],
                    gaussian_strengths=[0.0, 2.0], image_strengths=[0.0, 1.0],
                    image_seeds=1, cnn_steps=600, lin_steps=90, lin_widths=[1, 2], mnist_lin_widths=[1, 2], architecture="simple",
                    lin_lr=1e-2, scaling_n=[300, 1000], scaling_kernel_max_n=1000,
                ),
                "default": dict(
                    k=1000, d=10, noise_levels=[0.5, 1.0, 1.5], seeds=2, steps=1000, batch=500,
                    lr=0.1, eval_every=50, n_eval=5000, separation_k=[30, 100, 300, 1000],
                    separation_n=[32, 64, 128, 256, 512], separation_test=2000, separation_steps=3000,
                    separation_kernel_entries=1.3e10,
                    n_train=1000, n_test=500, mnist_n_train=5000, mnist_n_test=2000,
                    mnist_strengths=[0.0, 0.5, 1.0, 1.5, 2.0], gaussian_strengths=[0.0, 2.0],
                    image_strengths=[0.0, 1.0], image_seeds=1, cnn_steps=2400, lin_steps=600,
                    lin_widths=[1, 2], mnist_lin_widths=[1, 2], architecture="simple", lin_lr=1e-2, scaling_n=[1000, 5000, 20000],
                    scaling_kernel_max_n=5000,
                ),
                "paper": dict(
                    k=1000, d=10, noise_levels=[0.25, 0.5, 0.75, 1.0, 1.25, 1.5], seeds=3, steps=10000,
                    batch=500, lr=0.1, eval_every=100, n_eval=5000,
                    separation_k=[30, 100, 300, 1000], separation_n=[32, 64, 128, 256, 512, 1024, 2048, 4096],
                    separation_test=2000, separation_steps=10000, separation_kernel_entries=3e13,
                    n_train=20000, n_test=5000, mnist_n_train=20000, mnist_n_test=10000,
                    mnist_strengths=[0.0, 0.5, 1.0, 1.5, 2.0], gaussian_strengths=[0.0, 0.5, 1.0, 1.5, 2.0],
                    image_strengths=[0.0, 0.25, 0.5, 0.75, 1.0], image_seeds=3, cnn_steps=15600,
                    lin_steps=80000, lin_widths=[1, 10], mnist_lin_widths=[50, 100], architecture="wrn", lin_lr=1e-3,
                    scaling_n=[1000, 3000, 10000, 30000, 60000], scaling_kernel_max_n=20000,
                ),
            },
            run_time={"smoke": "1.3 to 2.5 min (digits: 0.8 to 1.5 min)", "default": "9.5 to 19 min",
                      "paper": "GPU, not yet run"},
            measured_s={"smoke": 80, "default": 559},
        ),
        Chapter(
            name="representation",
            notebook="02_representation.py",
            title="Learning a representation with one gradient step",
            scales={
                "smoke": dict(
                    d_values=[16, 32, 64], n_points=5, n_max_factor=8, m=1024, seeds=3, n_val=5000, n_test=20000,
                    kernel_max_n=1024, row_norm=0.5, bias_std=1.0, noise_std=0.0, transfer_d_values=[8, 16, 32],
                    n_source_factor=16, n_targets=[16, 128, 512], transfer_seeds=3, preprocess_d=32,
                    preprocess_n_factors=[1, 4], preprocess_seeds=4, sweep_d=16, sweep_n_factor=16,
                    widths=[256, 1024], row_norms=[0.25, 0.5, 1.0, 2.0], sweep_seeds=1, floor_samples=16384,
                ),
                "default": dict(
                    d_values=[32, 64, 128], n_points=4, n_max_factor=4, m=2048, seeds=3, n_val=5000,
                    n_test=50000, kernel_max_n=4096, row_norm=0.5, bias_std=1.0, noise_std=0.0,
                    transfer_d_values=[32, 64, 128], n_source_factor=16, n_targets=[32, 128, 512],
                    transfer_seeds=4, preprocess_d=32, preprocess_n_factors=[1, 4], preprocess_seeds=4,
                    sweep_d=32, sweep_n_factor=16, widths=[256, 1024, 2048], row_norms=[0.25, 0.5, 1.0, 2.0],
                    sweep_seeds=2, floor_samples=32768,
                ),
                "paper": dict(
                    d_values=[64, 128, 256], n_points=8, n_max_factor=8, m=8192, seeds=5, n_val=20000,
                    n_test=200000, kernel_max_n=40000, row_norm=0.5, bias_std=1.0, noise_std=0.0,
                    transfer_d_values=[64, 128, 256], n_source_factor=16,
                    n_targets=[16, 32, 64, 128, 256, 512, 1024], transfer_seeds=10, preprocess_d=128,
                    preprocess_n_factors=[1, 4], preprocess_seeds=10, sweep_d=64, sweep_n_factor=16,
                    widths=[512, 2048, 8192], row_norms=[0.125, 0.25, 0.5, 1.0, 2.0], sweep_seeds=3,
                    floor_samples=262144,
                ),
            },
            run_time={"smoke": "1 to 2 min", "default": "8 to 16 min", "paper": "GPU, not yet run"},
            measured_s={"smoke": 61, "default": 473},
        ),
        Chapter(
            name="gaussian_mixture",
            notebook="03_gaussian_mixture.py",
            title="An XOR mixture that networks learn and kernels cannot",
            scales={
                "smoke": dict(
                    dim=400, hidden=16, inverse_snrs=[0.05, 0.2, 0.4, 0.5, 0.7, 1.0, 2.0, 5.0], seeds=3,
                    t_max=200.0, switch_time=120.0, lr=0.5, lr_final=0.05, weight_decay=0.01, init_std=0.1,
                    time_points=25, base_samples=4096, ode_dt=1.0, dynamics_inverse_snrs=[0.5, 1.0],
                    hidden_values=[2, 4, 8, 16, 32], sweep_inverse_snr=0.4, sweep_seeds=4, n_factor=4,
                    rf_gammas=[0.5, 1.0, 2.0], rf_online_t_max=20.0, rf_dims=[100, 200, 400],
                    kernel_dims=[100, 200], kernel_n_factors=[2, 4, 8], theory_hidden=[4, 16],
                    theory_lrs=[0.05], theory_weight_decays=[0.01], rf_theory_ratios=[0.5, 1.0, 2.0],
                    theory_inverse_snrs=[0.05, 0.2, 0.4, 0.5, 0.7, 1.0, 2.0],
                    budget_inverse_snrs=[0.4, 1.0], budget_n_factors=[4, 16, 64, 200],
                    escape_inverse_snrs=[2.0], escape_t_end=2000.0,
                    mixture_inverse_snrs=[0.5, 1.0], mixture_n_factors=[1, 4, 20], mixture_rf_ratios=[1.0, 4.0],
                ),
                "default": dict(
                    dim=1000, hidden=16, inverse_snrs=[0.05, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 2.0],
                    seeds=3, t_max=600.0, switch_time=350.0, lr=0.5, lr_final=0.05, weight_decay=0.01,
                    init_std=0.1, time_points=40, base_samples=4096, ode_dt=1.0, dynamics_inverse_snrs=[0.5, 1.0],
                    hidden_values=[4, 8, 16, 32], sweep_inverse_snr=0.4, sweep_seeds=4, n_factor=4,
                    rf_gammas=[0.5, 1.0, 2.0], rf_online_t_max=50.0, rf_dims=[250, 500, 1000],
                    kernel_dims=[250], kernel_n_factors=[2, 4, 8], theory_hidden=[4, 16],
                    theory_lrs=[0.05], theory_weight_decays=[0.01], rf_theory_ratios=[0.5, 1.0, 2.0, 4.0, 8.0],
                    theory_inverse_snrs=[0.05, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 2.0],
                    budget_inverse_snrs=[0.3, 1.0], budget_n_factors=[4, 16, 64, 256, 600],
                    escape_inverse_snrs=[1.0, 2.0], escape_t_end=10000.0,
                    mixture_inverse_snrs=[0.5, 1.0, 2.0], mixture_n_factors=[1, 4, 16, 50],
                    mixture_rf_ratios=[1.0, 8.0],
                ),
                "paper": dict(
                    dim=2000, hidden=16, inverse_snrs=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0],
                    seeds=10, t_max=1000.0, switch_time=600.0, lr=0.5, lr_final=0.05, weight_decay=0.01,
                    init_std=0.1, time_points=60, base_samples=32768, ode_dt=0.5, dynamics_inverse_snrs=[0.5, 1.0],
                    hidden_values=[2, 4, 8, 16, 32], sweep_inverse_snr=0.4, sweep_seeds=20, n_factor=8,
                    rf_gammas=[0.5, 1.0, 2.0, 4.0], rf_online_t_max=100.0, rf_dims=[500, 1000, 2000, 4000],
                    kernel_dims=[1000, 2000], kernel_n_factors=[2, 4, 8, 16], theory_hidden=[4, 16],
                    theory_lrs=[0.05, 0.5], theory_weight_decays=[0.01, 0.001],
                    rf_theory_ratios=[0.5, 1.0, 2.0, 4.0, 8.0],
                    theory_inverse_snrs=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0],
                    budget_inverse_snrs=[0.3, 0.5, 1.0, 2.0], budget_n_factors=[4, 16, 64, 256, 1000],
                    escape_inverse_snrs=[1.0, 1.5, 2.0, 3.0], escape_t_end=30000.0,
                    mixture_inverse_snrs=[0.25, 0.5, 1.0, 2.0, 3.0], mixture_n_factors=[1, 4, 16, 64, 100],
                    mixture_rf_ratios=[1.0, 2.0, 8.0],
                ),
            },
            run_time={"smoke": "3 min", "default": "12 to 14.5 min", "paper": "GPU, not yet run"},
            measured_s={"smoke": 167, "default": 739},
        ),
        Chapter(
            name="linearization",
            reads_images=True,
            notebook="04_linearization.py",
            title="What linearized networks can say about generalization",
            scales={
                "smoke": dict(
                    dataset="mnist", models=["mlp", "lenet"], resnet_width=4, n_train=500, n_test=150,
                    eigen_solver="dense", eigen_indices=[2, 4, 8, 16, 32], epochs=20, tracked_index=4, after_indices=[4], probe_size=128,
                    rayleigh_count=200, real_datasets=["cifar10", "mnist"], real_sizes=[128, 512], real_test=500,
                    real_steps=80, real_seeds=2,
                ),
                "default": dict(
                    dataset="cifar10", models=["mlp", "lenet"], resnet_width=8, n_train=2000, n_test=500,
                    eigen_solver="dense", eigen_indices=[2, 3, 5, 8, 13, 22, 36, 60, 100], epochs=30, tracked_index=5,
                    after_indices=[3, 13, 60], probe_size=256, rayleigh_count=500, real_datasets=["cifar10", "mnist"],
                    real_sizes=[250, 1000, 2000], real_test=2000, real_steps=480, real_seeds=3,
                ),
                "paper": dict(
                    # the official compute_ntk and train_ntk configurations: 50,000 + 10,000 CIFAR-10 images, the top
                    # 1,000 eigenvectors (num_eigvecs), 100 epochs. The NTK on 60,000 images goes through Lanczos
                    # (29 GB as a float64 Gram matrix); planned: python -m lsa_utils plan linearization
                    dataset="cifar10", models=["mlp", "lenet", "resnet18"], resnet_width=64, n_train=50000,
                    n_test=10000, eigen_solver="lanczos",
                    eigen_indices=[2, 3, 5, 8, 13, 22, 36, 60, 100, 170, 300, 500, 1000], epochs=100,
                    tracked_index=8, after_indices=[2, 8, 36, 100, 300, 1000], probe_size=1000, rayleigh_count=1000,
                    real_datasets=["cifar10", "mnist"], real_sizes=[500, 2000, 8000], real_test=10000,
                    real_steps=6300, real_seeds=3,
                ),
            },
            run_time={"smoke": "45 s to 1.5 min (digits: 40 s)", "default": "9 to 17.5 min (digits: 2 min)",
                      "paper": "GPU, not yet run"},
            measured_s={"smoke": 44, "default": 530},
            choices={"dataset": ("mnist", "cifar10"), "models": ("mlp", "lenet", "resnet18"),
                     "eigen_solver": ("dense", "lanczos"),
                     "real_datasets": ("mnist", "cifar10")},
        ),
        Chapter(
            name="kernels",
            notebook="90_kernels.py",
            title="Appendix: the kernels",
            scales={
                "smoke": dict(n_inputs=6, bench_images=8, repeats=1),
                "default": dict(n_inputs=12, bench_images=40, repeats=3),
                "paper": dict(n_inputs=32, bench_images=100, repeats=3),
            },
            run_time={"smoke": "35 s", "default": "3.5 min", "paper": "about 15 min"},
            measured_s={"smoke": 34, "default": 212},
            extra_inputs=("results/benchmarks/kernels-cpu.json", "results/benchmarks/kernels-cuda.json",
                          "results/gpu-check/cuda.json"),
        ),
    ]
}


def get_chapter(name: str) -> Chapter:
    """The chapter called ``name``; raises ``ValueError`` listing the chapters otherwise."""
    check_choice("chapter", name, CHAPTERS)
    return CHAPTERS[name]

"""The XOR Gaussian mixture, the batched online-SGD networks and the order-parameter ODEs (ch. 3)."""

import math

import pytest
import torch

from lsa_utils.data.xor_mixture import (
    XOR, Mixture, delta_from_inverse_snr, high_snr_mixture, mixed_snr_mixture, oracle_error, sample_streams,
    sample_xor_mixture,
)
from lsa_utils.experiments.xor_ode import (
    OrderParameters,
    gaussian_base,
    ode_derivative,
    order_parameters,
    population_errors,
)
from lsa_utils.experiments.gaussian_mixture import (
    DRAWS,
    compare_on_mixture,
    draw_seed,
    lazy_methods,
    mixture_kernel,
    plateau_escape,
    random_feature_matrix,
    random_features,
    ridge_features_learning_curve,
    simulate_networks,
    time_to_reach,
    train_readout_online,
)
from lsa_utils.seeding import derived_seed
from lsa_utils.experiments.xor_ode import informed_start, integrate_ode, relax_to_stationarity
from lsa_utils.models.committee import Committee, StepSchedule, init_committee, train_online_sgd


@pytest.mark.parametrize("snr", [0.3, 1.0, 2.5])
def test_oracle_error_matches_monte_carlo(snr):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 2_000_000, generator=g, dtype=torch.float64)
    mc = ((snr + z[0]).abs() < z[1].abs()).double().mean().item()
    se = math.sqrt(mc * (1 - mc) / z.shape[1])
    assert abs(oracle_error(snr).item() - mc) < 4 * se


def test_oracle_error_limits_and_bayes_rule_on_samples():
    assert oracle_error(0.0).item() == pytest.approx(0.5)
    assert oracle_error(20.0).item() < 1e-12
    # the rule |x_1| > |x_2| -> +1 attains the oracle error on samples of the mixture
    delta = delta_from_inverse_snr(0.7)
    x, y = sample_xor_mixture(400_000, 5, delta, torch.Generator().manual_seed(1), torch.float64)
    rule = torch.where(x[:, 0].abs() > x[:, 1].abs(), 1.0, -1.0)
    err = (rule != y).double().mean().item()
    assert err == pytest.approx(oracle_error(1 / 0.7).item(), abs=0.003)


MIXTURES = {"xor": lambda dim: XOR, "high": high_snr_mixture, "mixed": mixed_snr_mixture,
            "tilted": lambda dim: TILTED}


@pytest.mark.parametrize("name", list(MIXTURES))
@pytest.mark.parametrize("inverse_snr", [0.5, 1.5])
def test_every_mixtures_oracle_matches_its_bayes_rule_on_samples(name, inverse_snr):
    """The closed-form oracle of each mixture equals the error of its Bayes rule on samples, and
    no other rule of the two coordinates does better (the rule is the likelihood ratio's sign)."""
    dim, n = 16, 400_000
    mixture, delta = MIXTURES[name](dim), inverse_snr**2
    x, y = sample_xor_mixture(n, dim, delta, torch.Generator().manual_seed(11), torch.float64, mixture=mixture)
    means = torch.tensor(mixture.means, dtype=torch.float64)
    labels = torch.tensor(mixture.labels, dtype=torch.float64)
    assert torch.allclose(x[:, :2].mean(0), torch.zeros(2, dtype=torch.float64), atol=0.02 * (1 + mixture.mean_norm))
    loglik = -((x[:, None, :2] - means) ** 2).sum(-1) / (2 * delta)  # (n, 4)
    odds = torch.logsumexp(loglik[:, labels > 0], 1) - torch.logsumexp(loglik[:, labels < 0], 1)
    likelihood_rule = torch.where(odds > 0, 1.0, -1.0).double()
    assert torch.equal(mixture.bayes_labels(x[:, :2]), likelihood_rule)
    err = (likelihood_rule != y).double().mean().item()
    oracle = mixture.bayes_error(delta).item()
    se = math.sqrt(max(oracle * (1 - oracle), 1 / n) / n)
    assert abs(err - oracle) < 4 * se + 1e-6


def test_mixtures_of_the_official_code():
    dim = 400
    high, mixed = high_snr_mixture(dim), mixed_snr_mixture(dim)
    assert high.means == tuple((20 * a, 20 * b) for a, b in XOR.means)
    assert mixed.means[0] == (20.0, -1.0) and mixed.labels[0] == 1.0  # official: +1 at +-(sqrt(D), -1)
    # a mixture built for one D refuses another, and the ODE refuses means that scale with D
    with pytest.raises(ValueError, match="built for D = 400"):
        sample_xor_mixture(3, 100, 0.1, mixture=mixed)
    with pytest.raises(ValueError, match="built for D = 400"):
        train_online_sgd(init_committee(1, 2, 100), torch.tensor([0.1]), 1, 0.1, 0.0, mixture=high)
    op = order_parameters(init_committee(1, 2, 400, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="norm O\\(1\\)"):
        ode_derivative(op, torch.tensor([0.1]), gaussian_base(64, 2), 0.1, 0.0, mixture=mixed)
    assert population_errors(op, torch.tensor([0.1]), gaussian_base(64, 2), mixed)["error"].shape == (1,)
    # the mixed mixture's label is -sign(x_1 x_2); x_1 alone carries nothing
    assert all(lab == -math.copysign(1, m1 * m2) for (m1, m2), lab in zip(mixed.means, mixed.labels))
    # its oracle is Phi(-1/sqrt(delta)) (x_2's sign); the high-SNR one is XOR's at sqrt(D) times the SNR
    assert mixed.bayes_error(0.25).item() == pytest.approx(0.5 * math.erfc(2 / math.sqrt(2)), rel=1e-9)
    assert high.bayes_error(4.0).item() == pytest.approx(oracle_error(20 / 2).item(), rel=1e-9)
    assert XOR.bayes_error(torch.tensor([0.09, 1.0], dtype=torch.float64)).tolist() == pytest.approx(
        oracle_error(torch.tensor([1 / 0.3, 1.0], dtype=torch.float64)).tolist(), rel=1e-12)
    with pytest.raises(ValueError, match="same nonzero norm"):
        Mixture("bad", (1.0, 0.0), (0.0, 2.0))
    with pytest.raises(ValueError, match="parallel"):
        Mixture("bad", (1.0, 0.0), (-1.0, 0.0))
    with pytest.raises(ValueError, match="delta"):
        mixed.bayes_error(-1.0)


def test_sample_shapes_noise_and_balance():
    delta = torch.tensor([0.01, 0.25, 1.0])
    x, y = sample_xor_mixture(20_000, 10, delta, torch.Generator().manual_seed(2))
    assert x.shape == (3, 20_000, 10) and y.shape == (3, 20_000)
    assert torch.allclose(x[:, :, 2:].var((1, 2)), delta, rtol=0.03)
    assert y.mean(1).abs().max() < 0.03
    # label +1 sits on the x_1 axis: |x_1| is larger there on average by the mean's norm
    plus = y[0] > 0
    assert x[0, plus, 0].abs().mean() == pytest.approx(1.0, abs=0.02)
    assert x[0, ~plus, 1].abs().mean() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="dim"):
        sample_xor_mixture(5, 1, 0.1)
    with pytest.raises(ValueError, match="delta"):
        sample_xor_mixture(5, 4, -0.1)


def test_shared_streams_scale_the_same_noise():
    delta = torch.tensor([0.01, 0.25, 0.25])
    x, y = sample_streams(4, 6, delta, torch.tensor([0, 0, 1]), torch.Generator().manual_seed(3))
    assert x.shape == (4, 3, 6) and y.shape == (4, 3)
    assert torch.equal(y[:, 0], y[:, 1])
    assert torch.allclose(x[:, 0, 2:] * 5, x[:, 1, 2:])  # same z, sqrt(0.25 / 0.01) = 5 times
    assert not torch.allclose(x[:, 1], x[:, 2])


def test_one_sgd_step_matches_torch_sgd_with_official_scaling():
    """One step equals torch.optim.SGD with lr eta and weight decay kappa / D on the first layer,
    lr eta / D and weight decay kappa on the second (the official code's optimiser)."""
    dim, hidden, lr, wd = 50, 3, 0.3, 0.2
    net = init_committee(2, hidden, dim, init_std=1.0, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    delta = torch.tensor([0.1, 0.5], dtype=torch.float64)
    before = net.clone()
    train_online_sgd(net, delta, steps=1, lr=lr, weight_decay=wd, generator=torch.Generator().manual_seed(4), chunk=1)
    x, y = sample_xor_mixture(1, dim, delta, torch.Generator().manual_seed(4), torch.float64)  # (B, 1, D)
    w = before.w.clone().requires_grad_(True)
    v = before.v.clone().requires_grad_(True)
    opt = torch.optim.SGD([dict(params=[w], lr=lr, weight_decay=wd / dim),
                           dict(params=[v], lr=lr / dim, weight_decay=wd)])
    yhat = Committee(w, v)(x)
    (0.5 * ((yhat - y) ** 2).sum()).backward()
    opt.step()
    assert torch.allclose(net.w, w.detach(), atol=1e-12)
    assert torch.allclose(net.v, v.detach(), atol=1e-12)


def test_many_steps_over_chunks_match_plain_sgd_on_the_same_samples():
    """Seven steps in chunks of 3, 3 and 1 (the weight decay is folded into a scale within a
    chunk) against torch.optim.SGD one sample at a time, on the same draws, shared streams."""
    dim, hidden, lr, wd, steps, chunk = 40, 3, 0.4, 0.5, 7, 3
    net = init_committee(3, hidden, dim, init_std=1.0, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    delta, streams = torch.tensor([0.1, 0.5, 0.3], dtype=torch.float64), torch.tensor([0, 0, 1])
    w = net.w.clone().requires_grad_(True)
    v = net.v.clone().requires_grad_(True)
    seen = []
    train_online_sgd(net, delta, steps, lr, wd, generator=torch.Generator().manual_seed(7), streams=streams,
                     chunk=chunk, on_chunk=lambda done: seen.append((done, net.w.clone())))
    opt = torch.optim.SGD([dict(params=[w], lr=lr, weight_decay=wd / dim), dict(params=[v], lr=lr / dim, weight_decay=wd)])
    g = torch.Generator().manual_seed(7)
    done = 0
    for size in (3, 3, 1):
        x, y = sample_streams(size, dim, delta, streams, g)  # (size, B, D)
        for i in range(size):
            opt.zero_grad()
            (0.5 * ((Committee(w, v)(x[i][:, None, :])[:, 0] - y[i]) ** 2).sum()).backward()
            opt.step()
        done += size
        at_chunk = dict(seen)[done]
        assert torch.allclose(at_chunk, w.detach(), atol=1e-12)  # callbacks see the true weights
    assert torch.allclose(net.w, w.detach(), atol=1e-12)
    assert torch.allclose(net.v, v.detach(), atol=1e-12)


def test_weight_decay_that_would_flip_the_weights_is_refused():
    net = init_committee(1, 2, 10, generator=torch.Generator().manual_seed(5))
    with pytest.raises(ValueError, match="lr \\* weight_decay"):
        train_online_sgd(net, torch.tensor([0.1]), 1, lr=5.0, weight_decay=2.0)


def test_frozen_second_layer_stays():
    net = init_committee(1, 2, 20, generator=torch.Generator().manual_seed(5))
    v0 = net.v.clone()
    train_online_sgd(net, torch.tensor([0.1]), 10, 0.1, 0.01, train_second_layer=False)
    assert torch.equal(net.v, v0)


def test_gaussian_base_is_standard_normal():
    base = gaussian_base(2**14, 3, seed=1)
    assert base.shape == (2**14, 5)
    assert base.mean(0).abs().max() < 0.01
    assert torch.allclose(torch.cov(base.T), torch.eye(5, dtype=torch.float64), atol=0.02)


def _trained_network(dim=400, hidden=4, seed=6):
    """A network with sizeable overlaps with e1, e2 (so the test is not at the trivial init)."""
    g = torch.Generator().manual_seed(seed)
    net = init_committee(2, hidden, dim, init_std=1.0, generator=g, dtype=torch.float64)
    net.w[:, :, :2] = math.sqrt(dim) * torch.randn(2, hidden, 2, generator=g, dtype=torch.float64)
    return net


@pytest.mark.parametrize("mixture", ["xor", "mixed"])
def test_population_error_equals_test_error_of_the_network(mixture):
    """The order parameters give the exact population error at any D (local fields are Gaussian),
    for means of norm 1 and of norm sqrt(D)."""
    net = _trained_network()
    mixture = XOR if mixture == "xor" else mixed_snr_mixture(net.dim)
    delta = torch.tensor([0.09, 0.5], dtype=torch.float64)
    pop = population_errors(order_parameters(net), delta, gaussian_base(2**16, 4), mixture)
    x, y = sample_xor_mixture(100_000, net.dim, delta, torch.Generator().manual_seed(7), torch.float64, mixture=mixture)
    yhat = net(x)
    test_error = (y * yhat <= 0).double().mean(1)
    test_mse = 0.5 * ((yhat - y) ** 2).mean(1)
    assert torch.allclose(pop["error"], test_error, atol=0.006)
    assert torch.allclose(pop["mse"], test_mse, rtol=0.03)
    assert (pop["error"] > 0.05).all()  # the check is not trivially at zero error


# a mixture of norm-1 means other than XOR's: the ODE takes the means as a parameter
TILTED = Mixture("tilted", (0.8, 0.6), (-0.28, 0.96))


@pytest.mark.parametrize("mixture", [XOR, TILTED], ids=["xor", "tilted"])
def test_ode_derivative_is_the_mean_sgd_drift(mixture):
    """D * E[one-step change of (Q, R, v)] over independent samples equals the ODE's right side
    (up to O(1/D) terms), including the eta^2 noise term."""
    dim, copies, lr, wd = 1000, 4000, 0.5, 0.1
    net = _trained_network(dim=dim, hidden=3)
    net = Committee(net.w[:1].expand(copies, -1, -1).clone(), net.v[:1].expand(copies, -1).clone())
    delta = torch.full((copies,), 0.3, dtype=torch.float64)
    start = order_parameters(Committee(net.w[:1], net.v[:1]))
    train_online_sgd(net, delta, 1, lr, wd, generator=torch.Generator().manual_seed(8), mixture=mixture)
    after = order_parameters(net)
    drift = {k: (getattr(after, k) - getattr(start, k)) * dim for k in ("q", "r", "v")}
    ode = ode_derivative(start, delta[:1], gaussian_base(2**17, 3), lr, wd, mixture=mixture)
    if mixture is TILTED:  # the means matter: XOR's drift differs from this one's
        other = ode_derivative(start, delta[:1], gaussian_base(2**17, 3), lr, wd)
        assert (other.r - ode.r).abs().max() > 0.1
    for key in ("q", "r", "v"):
        samples = drift[key].reshape(copies, -1)
        mean, se = samples.mean(0), samples.std(0) / math.sqrt(copies)
        expected = getattr(ode, key).reshape(-1)
        assert ((mean - expected).abs() <= 4 * se + 0.02 * expected.abs() + 1e-3).all(), key
    # the eta^2 term is what the check resolves: dQ/dt is linear in eta but for that term, so
    # 2 * (dQ(eta) - 2 dQ(eta / 2)) is the term itself; it must exceed the tolerance used above
    half = ode_derivative(start, delta[:1], gaussian_base(2**17, 3), lr / 2, wd, mixture=mixture)
    noise_term = 2 * (ode.q - 2 * half.q)
    q_se = drift["q"].reshape(copies, -1).std(0) / math.sqrt(copies)
    assert (noise_term.reshape(-1).abs() > 4 * q_se + 0.02 * ode.q.reshape(-1).abs() + 1e-3).any()


def test_order_parameters_are_a_snapshot():
    net = init_committee(1, 2, 30, generator=torch.Generator().manual_seed(9))
    op = order_parameters(net)
    v0 = op.v.clone()
    train_online_sgd(net, torch.tensor([0.1]), 20, 0.5, 0.01)
    assert torch.equal(op.v, v0) and not torch.equal(net.v.double(), v0)


def test_step_schedule_segments():
    s = StepSchedule(0.5, 10.0, 0.05)
    assert s.segments(0, 5) == [(0, 5, 0.5)]
    assert s.segments(5, 20) == [(5, 10.0, 0.5), (10.0, 20, 0.05)]
    assert s.segments(12, 20) == [(12, 20, 0.05)]
    assert s.segments(3, 3) == []
    assert StepSchedule(0.1).segments(0, 1e6) == [(0, 1e6, 0.1)]


def test_ode_with_a_switch_equals_two_integrations():
    net = _trained_network(dim=300, hidden=3)
    delta = torch.tensor([0.25, 0.5], dtype=torch.float64)
    base = gaussian_base(1024, 3)
    _, both = integrate_ode(order_parameters(net), delta, base, StepSchedule(0.5, 1.0, 0.1), 0.01, [0.0, 1.0, 2.0])
    first, _ = integrate_ode(order_parameters(net), delta, base, StepSchedule(0.5), 0.01, [1.0])
    _, second = integrate_ode(first[-1], delta, base, StepSchedule(0.1), 0.01, [0.0, 1.0])
    assert torch.allclose(both["error"][2], second["error"][1]) and torch.allclose(both["mse"][2], second["mse"][1])
    assert not torch.allclose(both["mse"][0], both["mse"][2])  # the state moved
    with pytest.raises(ValueError, match="increasing"):
        integrate_ode(order_parameters(net), delta, base, StepSchedule(0.5), 0.01, [2.0, 1.0])


def test_simulation_pads_narrow_networks_with_inert_units():
    base = gaussian_base(512, 4)
    sim = simulate_networks([(0.3, 2), (0.3, 4)], 2, 50, [0.0, 1.0, 4.0], StepSchedule(0.5), 0.01, 0.1, base,
                            progress=False)
    assert sim.hidden == [2, 2, 4, 4] and sim.seed == [0, 1, 0, 1]
    assert sim.runs(hidden=4) == [2, 3] and sim.runs(inverse_snr=0.3, hidden=2) == [0, 1]
    assert sim.error.shape == (3, 4)
    assert (sim.net.w[:2, 2:] == 0).all() and (sim.net.v[:2, 2:] == 0).all()
    assert (sim.net.w[2:].abs().sum((1, 2)) > 0).all()
    assert sim.samples_per_second > 0


def test_random_features_kernel_limit():
    g = torch.Generator().manual_seed(10)
    x = torch.randn(5, 12, generator=g, dtype=torch.float64)
    f = random_feature_matrix(12, 200_000, g)
    assert torch.allclose(f.norm(dim=0), torch.full((200_000,), math.sqrt(12), dtype=torch.float64))
    z = random_features(x, f)
    assert torch.allclose(z @ z.T / f.shape[1], mixture_kernel(x, x), rtol=0.03)


def test_lazy_methods_solve_high_snr_and_fail_at_low_snr():
    easy = lazy_methods(0.05, 40, 400, [1.0], kernel=True, n_val=300, n_test=1000)
    assert {r["method"] for r in easy} == {"random features", "kernel"}
    assert max(r["error"] for r in easy) < 0.02
    hard = lazy_methods(1.0, 400, 800, [1.0], kernel=True, n_val=300, n_test=2000)
    assert min(r["error"] for r in hard) > 0.4  # the oracle is 0.36: nothing learned


def test_online_readout_learns_at_high_snr_and_counts_divergence_as_wrong():
    easy = train_readout_online([0.05], 40, 4.0, [0.0, 100.0], lr=0.5, weight_decay=0.01, n_test=2000,
                                progress=False)["error"]
    assert easy.shape == (2, 1)
    assert easy[0, 0] == 1.0  # the readout starts at 0: every output is a tie, counted as wrong
    assert easy[1, 0] < 0.05
    hard = train_readout_online([5.0], 40, 1.0, [0.0, 20.0], lr=0.05, weight_decay=0.01, n_test=2000,
                                progress=False)["error"]
    assert 0.35 < hard[1, 0] < 0.65  # 1/SNR = 5: chance
    # lr far above 4 / delta diverges; the NaN outputs count as wrong, not as right
    diverged = train_readout_online([5.0], 40, 1.0, [0.0, 20.0], lr=2.0, weight_decay=0.01, n_test=2000,
                                    progress=False)["error"]
    assert diverged[1, 0] == 1.0


def test_simulation_records_the_units_paths_in_the_plane_of_the_means():
    base = gaussian_base(512, 4)
    times = [0.0, 1.0, 4.0]
    sim = simulate_networks([(0.3, 4)], 2, 50, times, StepSchedule(0.5), 0.01, 0.1, base, progress=False)
    assert sim.overlaps.shape == (3, 2, 4, 2) and sim.readout.shape == (3, 2, 4)
    assert torch.equal(sim.overlaps[0], sim.start.r) and torch.equal(sim.readout[0], sim.start.v)
    final = order_parameters(sim.net)
    assert torch.allclose(sim.overlaps[-1], final.r) and torch.allclose(sim.readout[-1], final.v)
    assert not torch.equal(sim.overlaps[1], sim.overlaps[0])  # the units moved


def test_time_to_reach_interpolates_between_recorded_times():
    times = [0.0, 1.0, 10.0, 100.0]
    # linear in log t between 10 (error 0.4) and 100 (error 0.2): 0.3 is reached at sqrt(10 * 100)
    assert time_to_reach([0.5, 0.5, 0.4, 0.2], times, 0.3) == pytest.approx(math.sqrt(1000), rel=1e-12)
    assert time_to_reach([0.5, 0.5, 0.4, 0.2], times, 0.2) == pytest.approx(100.0)
    # from t = 0, linear in t
    assert time_to_reach([0.5, 0.1, 0.1, 0.1], times, 0.3) == pytest.approx(0.5)
    assert time_to_reach([0.1, 0.1, 0.1, 0.1], times, 0.3) == 0.0
    assert math.isnan(time_to_reach([0.5, 0.5, 0.4, 0.35], times, 0.3))
    # only the first crossing counts
    assert time_to_reach([0.5, 0.2, 0.6, 0.1], times, 0.3) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same length"):
        time_to_reach([0.5, 0.1], times, 0.3)


def test_draw_seeds_are_distinct_and_named():
    seeds = {draw_seed(0, name, i) for name in DRAWS for i in range(3)}
    assert len(seeds) == 3 * len(DRAWS)
    assert draw_seed(1, "networks") != draw_seed(0, "networks")
    assert draw_seed(0, "lazy", 1) != draw_seed(1, "lazy", 0)  # seed + i would make these equal
    assert draw_seed(0, "lazy", 1) == derived_seed(0, DRAWS.index("lazy"), 1, 1)
    assert draw_seed(0, "lazy") != draw_seed(0, "lazy", 0)  # SeedSequence alone pads with zeros
    assert derived_seed(0, 5) == derived_seed(0, 5, 0)  # ... which is why draw_seed hashes the length
    with pytest.raises(ValueError, match="draw='nets' is not one of"):
        draw_seed(0, "nets")


def test_streamed_ridge_features_equal_one_fit_on_the_same_samples(monkeypatch):
    import lsa_utils.experiments.gaussian_mixture as gm

    # every call of the sampler takes the next rows of one pool: validation, test, then the chunks
    x_pool, y_pool = sample_xor_mixture(300 + 1000 + 600, 30, 0.3**2, torch.Generator().manual_seed(5), torch.float64)
    taken = [0]

    def next_rows(n, dim, delta, generator, dtype=torch.float32, device="cpu", mixture=XOR):
        rows = slice(taken[0], taken[0] + n)
        taken[0] += n
        return x_pool[rows].to(dtype), y_pool[rows].to(dtype)

    monkeypatch.setattr(gm, "sample_xor_mixture", next_rows)
    curve = ridge_features_learning_curve(0.3, 30, 1.0, [600, 60], n_val=300, n_test=1000, chunk=37, seed=3,
                                          progress=False)
    assert [r["n_train"] for r in curve] == [60, 600] and taken[0] == 1900
    f = random_feature_matrix(30, 30, torch.Generator().manual_seed(3))  # the function's first draw
    embed = lambda z: random_features(z, f)  # noqa: E731
    held_out = (x_pool[:300], y_pool[:300], x_pool[300:1300], y_pool[300:1300])
    for row in curve:
        n = row["n_train"]
        one_fit = gm.ridge_classifier(embed, x_pool[1300:1300 + n], y_pool[1300:1300 + n], *held_out, kernel=False)
        assert row["ridge"] == one_fit["ridge"]
        assert row["error"] == pytest.approx(one_fit["error"], abs=2e-3)  # float32 features: a test point or two
    with pytest.raises(ValueError, match="n_values"):
        ridge_features_learning_curve(0.3, 30, 1.0, [], progress=False)


def test_ridge_features_learn_the_xor_with_samples_at_high_snr():
    # D = 30, 1/SNR = 0.3 (oracle 0.018): 0.35 at n = D, 0.14 at n = 100 D (measured with this seed)
    curve = ridge_features_learning_curve(0.3, 30, 2.0, [30, 3000], n_val=300, n_test=2000, seed=4, progress=False)
    assert curve[0]["error"] > 0.25 and curve[1]["error"] < 0.2


def test_adaptive_ode_steps_follow_fixed_small_steps():
    base = gaussian_base(512, 4)
    start = order_parameters(init_committee(2, 4, 100, 0.1, generator=torch.Generator().manual_seed(2)))
    delta = torch.tensor([0.1, 1.0], dtype=torch.float64)
    times = [0.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    _, fine = integrate_ode(start, delta, base, StepSchedule(0.5), 0.01, times, dt=0.05)
    # plateau_escape's largest step at lr = 0.5 (2.5 / lr); the stiffness alone allowed steps of 100 here
    _, adaptive = integrate_ode(start, delta, base, StepSchedule(0.5), 0.01, times, dt=5.0, stiffness_step=1.0)
    assert fine["error"][-1, 0] < 0.3 < fine["error"][0, 0]  # the low-noise run left its plateau: both phases
    # a fast escape (the error falls 0.07 per unit of t) is the hard case: measured 0.0063 and 0.1%
    assert torch.allclose(adaptive["error"], fine["error"], atol=0.01)
    assert torch.allclose(adaptive["mse"], fine["mse"], rtol=3e-3)


def test_plateau_escape_times_from_the_runs_own_starts():
    base = gaussian_base(512, 8)
    # two widths: the narrower runs are padded with zero units, which the ODE must leave out
    sim = simulate_networks([(0.3, 8), (3.0, 4)], 2, 100, [0.0, 1.0], StepSchedule(0.5), 0.01, 0.1, base,
                            progress=False)
    rows = plateau_escape(sim, [0.3, 3.0], base, 0.5, 0.01, t_end=300.0, points=30)
    assert [(r["inverse_snr"], r["seed"]) for r in rows] == [(0.3, 0), (0.3, 1), (3.0, 0), (3.0, 1)]
    low = rows[0]
    # the target is halfway, on a log scale, from the run's start to the overlap of the settled state
    settled = relax_to_stationarity(informed_start(1, 8), torch.tensor([0.09], dtype=torch.float64), base, 0.5, 0.01)
    assert low["settled_overlap"] == pytest.approx(float(settled.state.r[0].norm(dim=-1).max()))
    assert low["stationary_error"] == pytest.approx(float(settled.error[0]))
    assert low["target"] == pytest.approx(math.sqrt(low["overlaps"][0] * low["settled_overlap"]))
    assert low["overlaps"][0] == pytest.approx(float(sim.start.r[0].norm(dim=-1).max()))
    assert 1.0 < low["escape"] < 300.0 and low["overlaps"][-1] >= low["target"] > low["overlaps"][-2]
    assert len(low["times"]) == len(low["errors"]) == len(low["overlaps"]) < 31  # it stopped once escaped
    # the same ODE at fixed small steps crosses the target at about the same time
    start = OrderParameters(sim.start.q[:1], sim.start.r[:1], sim.start.v[:1])
    states, _ = integrate_ode(start, torch.tensor([0.09], dtype=torch.float64), base, StepSchedule(0.5), 0.01,
                              low["times"], dt=0.05)
    fine = [-float(op.r[0].norm(dim=-1).max()) for op in states]
    assert time_to_reach(fine, low["times"], -low["target"]) == pytest.approx(low["escape"], rel=0.05)
    high = rows[2]  # 1/SNR = 3, K = 4 (padded to 8): does not leave the plateau by t = 300
    assert high["settled_overlap"] != low["settled_overlap"]  # its own width's settled state
    assert math.isnan(high["escape"]) and len(high["times"]) == 31 and max(high["overlaps"]) < high["target"]


def test_compare_on_mixture_reads_every_method_at_the_same_n():
    """Section 6's comparison: the records line up at n = f D, the oracle is the mixture's, and at
    high SNR random features learn where, on the XOR at the same noise and n, they do not."""
    dim, base = 40, gaussian_base(1024, 4, seed=0)
    common = dict(inverse_snrs=[0.5], dim=dim, hidden=4, seeds=1, n_factors=[4, 1], ratios=[1.0],
                  schedule=StepSchedule(0.2, 100.0, 0.2), weight_decay=0.01, init_std=0.1, base=base, seed=1,
                  progress=False)
    high = compare_on_mixture(high_snr_mixture(dim), 0, **common)
    assert {r["t"] for r in high["network"]} >= {1.0, 4.0}
    assert [r["n_train"] for r in high["ridge"]] == [40, 160]
    assert high["oracle"][0]["error"] == pytest.approx(float(high_snr_mixture(dim).bayes_error(0.25)))
    assert {r["mixture"] for part in high.values() for r in part} == {high_snr_mixture(dim).name}
    assert high["ridge"][-1]["error"] <= 0.05 and high["theory"][0]["error"] <= 0.05
    xor = compare_on_mixture(XOR, 1, **common)
    assert xor["ridge"][-1]["error"] >= 0.3

# Reference values for tests/stats/trial_tests_test.cpp, computed with R 4.2.2, survival 3.5-3 and
# mvtnorm 1.1-3. Run from the repository root:
#   Rscript tests/stats/data/trial_tests_reference.R
# and paste the printed values into the test. Every value is printed with 17 significant digits.
suppressPackageStartupMessages({
  library(survival)
  library(mvtnorm)
})

p17 <- function(label, x) cat(sprintf("%-34s %s\n", label, paste(sprintf("%.17g", x), collapse = ", ")))

# --- Data sets (the same literals are in the C++ test) ------------------------------------------
# d1: 40 patients, integer times with many ties across arms and between events and censorings.
d1 <- data.frame(
  time = c(8, 12, 1, 23, 12, 8, 1, 12, 5, 2, 8, 8, 11, 10, 18, 13, 7, 1, 10, 13,
           29, 9, 4, 12, 34, 11, 18, 13, 4, 22, 1, 3, 12, 12, 24, 3, 21, 8, 20, 3),
  status = c(1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1,
             1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1),
  arm = rep(0:1, each = 20))
# d2: 60 patients, delayed separation (same hazard for 6 months, then half in arm 1), times to 0.1.
d2 <- data.frame(
  time = c(1.5, 13.5, 6.4, 13.6, 6.8, 2.2, 6.9, 15, 0.4, 1.9, 4.1, 7.9, 15.1, 6, 12.4, 6.4, 3.7,
           0.8, 2.4, 7.9, 9, 10.9, 10.1, 6.2, 7.9, 1.2, 6, 24, 8.4, 3.2, 5.7, 5.5, 13.5, 12.7,
           14.3, 8.4, 3.9, 11.6, 21.4, 0.8, 12.9, 17, 20.7, 22, 2.9, 1.4, 5.7, 0.6, 26.7, 1.8,
           0.7, 5.7, 27.4, 26.9, 0.8, 31.9, 10.2, 0.7, 1.4, 13.1),
  status = c(1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
             1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0,
             0, 1, 1, 1),
  arm = rep(0:1, each = 30))
# d3: 11 patients; the control curve falls to 0 at t = 7 (one patient at risk, who dies).
d3 <- data.frame(
  time = c(2, 3, 3, 5, 7, 1, 4, 6, 8, 9, 12),
  status = c(1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1),
  arm = c(0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1))

# --- Fleming-Harrington G(rho, gamma) -----------------------------------------------------------
# A direct transcription of the definition: at each distinct event time, weight
# S(t-)^rho (1 - S(t-))^gamma with S the pooled Kaplan-Meier just before t; U = sum w (O1 - E1);
# hypergeometric variance w^2 d (n1/n)(1 - n1/n)(n - d)/(n - 1). Returns the per-time terms so
# the covariance of several weightings can be formed. Checked against survdiff below for gamma = 0.
fh_terms <- function(d) {
  ut <- sort(unique(d$time[d$status == 1]))
  S <- 1
  out <- NULL
  for (t in ut) {
    n <- sum(d$time >= t); n1 <- sum(d$time >= t & d$arm == 1)
    dd <- sum(d$time == t & d$status == 1); d1 <- sum(d$time == t & d$status == 1 & d$arm == 1)
    v <- if (n > 1) dd * (n1 / n) * (1 - n1 / n) * (n - dd) / (n - 1) else 0
    out <- rbind(out, c(S = S, oe = d1 - dd * n1 / n, v = v))
    S <- S * (n - dd) / n
  }
  as.data.frame(out)
}
fh <- function(d, rho, gamma) {
  tt <- fh_terms(d)
  w <- tt$S^rho * (1 - tt$S)^gamma
  U <- sum(w * tt$oe); V <- sum(w^2 * tt$v)
  c(estimate = -U, se = sqrt(V), z = -U / sqrt(V))
}
report_fh <- function(name, d) {
  for (rho in 0:1) {
    sd <- survdiff(Surv(time, status) ~ arm, data = d, rho = rho)
    mine <- fh(d, rho, 0)
    stopifnot(isTRUE(all.equal(unname(mine["z"]^2), sd$chisq, tolerance = 1e-12)))
    # survdiff's O - E of the second group (arm 1) is -estimate.
    stopifnot(isTRUE(all.equal(unname(-mine["estimate"]), unname(sd$obs[2] - sd$exp[2]),
                               tolerance = 1e-12)))
    p17(sprintf("%s survdiff rho=%d chisq", name, rho), sd$chisq)
  }
  for (rg in list(c(0, 0), c(1, 0), c(0, 1), c(1, 1))) {
    r <- fh(d, rg[1], rg[2])
    p17(sprintf("%s FH(%g,%g) est se z", name, rg[1], rg[2]), r)
    p17(sprintf("%s FH(%g,%g) p1 p2", name, rg[1], rg[2]),
        c(pnorm(r["z"], lower.tail = FALSE), 2 * pnorm(-abs(r["z"]))))
  }
  # MaxCombo over FH(0,0), FH(0,1), FH(1,1) (Lin et al. 2020; Karrison 2016).
  tt <- fh_terms(d)
  W <- cbind(1, 1 - tt$S, tt$S * (1 - tt$S))
  U <- colSums(W * tt$oe)
  C <- t(W) %*% (W * tt$v)
  z <- -U / sqrt(diag(C))
  R <- cov2cor(C)
  zmax <- max(z)
  p_tv <- 1 - pmvnorm(upper = rep(zmax, 3), corr = R, algorithm = TVPACK(abseps = 1e-14))[1]
  # An independent method (Miwa, Hayter & Kuriki 2003) must agree.
  p_miwa <- 1 - pmvnorm(upper = rep(zmax, 3), corr = R, algorithm = Miwa(steps = 4096))[1]
  stopifnot(abs(p_tv - p_miwa) < 1e-9)
  p17(sprintf("%s maxcombo z", name), z)
  p17(sprintf("%s maxcombo r12 r13 r23", name), c(R[1, 2], R[1, 3], R[2, 3]))
  p17(sprintf("%s maxcombo p", name), p_tv)
}
report_fh("d1", d1)
report_fh("d2", d2)
report_fh("d3", d3)

# --- RMST (survRM2::rmst2's rmst1 computation, written out with survfit) ------------------------
rmst1 <- function(time, status, tau) {
  ft <- survfit(Surv(time, status) ~ 1)
  idx <- ft$time <= tau
  wk.time <- sort(c(ft$time[idx], tau))
  wk.surv <- ft$surv[idx]
  wk.n.risk <- ft$n.risk[idx]
  wk.n.event <- ft$n.event[idx]
  areas <- diff(c(0, wk.time)) * c(1, wk.surv)
  wk.var <- ifelse((wk.n.risk - wk.n.event) == 0, 0,
                   wk.n.event / (wk.n.risk * (wk.n.risk - wk.n.event)))
  wk.var <- c(wk.var, 0)
  c(rmst = sum(areas), var = sum(cumsum(rev(areas[-1]))^2 * rev(wk.var)[-1]))
}
report_rmst <- function(name, d, tau) {
  a0 <- with(d[d$arm == 0, ], rmst1(time, status, tau))
  a1 <- with(d[d$arm == 1, ], rmst1(time, status, tau))
  # Cross-check the area with survival's own restricted mean.
  rm <- summary(survfit(Surv(time, status) ~ arm, data = d), rmean = tau)$table[, "rmean"]
  stopifnot(isTRUE(all.equal(unname(rm), unname(c(a0["rmst"], a1["rmst"])), tolerance = 1e-12)))
  est <- a1["rmst"] - a0["rmst"]; se <- sqrt(a0["var"] + a1["var"])
  p17(sprintf("%s rmst tau=%g rmst0 rmst1", name, tau), c(a0["rmst"], a1["rmst"]))
  p17(sprintf("%s rmst tau=%g est se z", name, tau), c(est, se, est / se))
  p17(sprintf("%s rmst tau=%g p1 p2", name, tau),
      c(pnorm(est / se, lower.tail = FALSE), 2 * pnorm(-abs(est / se))))
}
report_rmst("d1", d1, 20)
report_rmst("d2", d2, 18)
report_rmst("d3", d3, 7.5)
report_rmst("d3", d3, 12)

# --- Milestone survival (Greenwood, plain scale: summary.survfit std.err) ------------------------
report_milestone <- function(name, d, t) {
  s <- summary(survfit(Surv(time, status) ~ arm, data = d), times = t, extend = TRUE)
  est <- s$surv[2] - s$surv[1]; se <- sqrt(s$std.err[1]^2 + s$std.err[2]^2)
  p17(sprintf("%s milestone t=%g S0 S1", name, t), s$surv)
  p17(sprintf("%s milestone t=%g est se z", name, t), c(est, se, est / se))
  p17(sprintf("%s milestone t=%g p1 p2", name, t),
      c(pnorm(est / se, lower.tail = FALSE), 2 * pnorm(-abs(est / se))))
}
report_milestone("d1", d1, 10)
report_milestone("d2", d2, 12)
report_milestone("d3", d3, 6.5)
# d3 at t = 7: the control curve is 0 there and R's std.err is NaN; vpgen takes that arm's
# variance as 0 (the limit of Greenwood's S^2 sum), so se is the experimental arm's alone.
s7 <- summary(survfit(Surv(time, status) ~ arm, data = d3), times = 7)
p17("d3 milestone t=7 S0 S1 se1", c(s7$surv, s7$std.err[2]))

# --- Rates ---------------------------------------------------------------------------------------
# Tables as (responders control, n control, responders experimental, n experimental).
tables <- list(c(7, 20, 14, 21), c(3, 15, 3, 15), c(10, 30, 2, 30), c(45, 150, 62, 150),
               c(0, 10, 5, 10), c(4, 12, 9, 12))
for (tb in tables) {
  x0 <- tb[1]; n0 <- tb[2]; x1 <- tb[3]; n1 <- tb[4]
  m <- matrix(c(x1, n1 - x1, x0, n0 - x0), 2)  # columns: experimental, control
  lab <- sprintf("(%d,%d,%d,%d)", x0, n0, x1, n1)
  p17(paste("fisher", lab, "p1 p2"),
      c(fisher.test(m, alternative = "greater")$p.value, fisher.test(m)$p.value))
  for (yates in c(FALSE, TRUE)) {
    ct <- suppressWarnings(chisq.test(m, correct = yates))
    pt <- suppressWarnings(prop.test(c(x1, x0), c(n1, n0), alternative = "greater", correct = yates))
    pt2 <- suppressWarnings(prop.test(c(x1, x0), c(n1, n0), correct = yates))
    stopifnot(isTRUE(all.equal(unname(ct$statistic), unname(pt$statistic), tolerance = 1e-12)))
    stopifnot(isTRUE(all.equal(ct$p.value, pt2$p.value, tolerance = 1e-12)))
    p17(sprintf("chisq yates=%d %s chi2 p1 p2", yates, lab),
        c(ct$statistic, pt$p.value, ct$p.value))
  }
}
binoms <- list(c(7, 20, 0.2), c(2, 25, 0.2), c(5, 25, 0.2), c(30, 100, 0.2), c(15, 40, 0.5),
               c(0, 10, 0.3), c(9, 10, 0.45))
for (b in binoms) {
  p17(sprintf("binom (%d,%d,%g) p1 p2", b[1], b[2], b[3]),
      c(binom.test(b[1], b[2], b[3], alternative = "greater")$p.value,
        binom.test(b[1], b[2], b[3])$p.value))
}

# --- Multivariate normal probabilities -----------------------------------------------------------
bvns <- list(c(1, -0.5, 0.3), c(0, 1.2, -0.7), c(2, 2, 0.99), c(-3, -2.5, 0.95), c(1, 0, 0.5),
             c(0.5, -0.5, -0.999), c(-1.3, 0.4, -0.93))
for (b in bvns) {
  R <- matrix(c(1, b[3], b[3], 1), 2)
  v <- pmvnorm(upper = b[1:2], corr = R, algorithm = TVPACK(abseps = 1e-14))[1]
  p17(sprintf("bvn (%g,%g; %g)", b[1], b[2], b[3]), v)
}
tvns <- list(c(1.5, 1.5, 1.5, 0.83, 0.89, 0.96), c(2.1, 2.1, 2.1, 0.85, 0.93, 0.93),
             c(0.3, -0.5, 1.2, -0.4, 0.3, 0.6), c(2, 2, 2, 0.999, 0.99, 0.995),
             c(-1, 0, 1, 0, 0, 0.5), c(0, 0, 0, 0.5, 0.5, 0.5), c(1, -1, 0.5, 0.6, -0.3, -0.2),
             c(3, 2.5, 2.8, 0.98, 0.9, 0.93))
for (b in tvns) {
  R <- diag(3); R[1, 2] <- R[2, 1] <- b[4]; R[1, 3] <- R[3, 1] <- b[5]; R[2, 3] <- R[3, 2] <- b[6]
  v <- pmvnorm(upper = b[1:3], corr = R, algorithm = TVPACK(abseps = 1e-14))[1]
  stopifnot(det(R) > 0)
  m <- pmvnorm(upper = b[1:3], corr = R, algorithm = Miwa(steps = 4096))[1]
  stopifnot(abs(v - m) < 1e-9)
  p17(sprintf("tvn (%g,%g,%g; %g,%g,%g)", b[1], b[2], b[3], b[4], b[5], b[6]), v)
}

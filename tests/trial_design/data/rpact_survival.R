# Power of a one-sided log-rank test in R rpact (Wassmer & Pahlke) for a two-arm exponential design,
# the independent check of `vpgen size` in parametric mode (tests/trial_design/trial_design_test.cpp).
# Usage: Rscript rpact_survival.R N EVENTS ACCRUAL_MONTHS MEDIAN_CONTROL_MONTHS HAZARD_RATIO ALPHA
#                                 ITERATIONS SEED DROPOUT_PER_YEAR
# Patients enter evenly over ACCRUAL_MONTHS (rpact's simulation), 1:1, the analysis is at the
# EVENTS-th event, dropout is exponential with P(drop out within 12 months) = DROPOUT_PER_YEAR.
# Prints "analytic <getPowerSurvival power> <its expected analysis time, months>" and
# "simulated <getSimulationSurvival power> <its mean analysis time, months>".
args <- as.numeric(commandArgs(trailingOnly = TRUE))
stopifnot(length(args) == 9)
n <- args[1]; events <- args[2]; accrual <- args[3]; median_control <- args[4]; hr <- args[5]
alpha <- args[6]; iterations <- as.integer(args[7]); seed <- args[8]; dropout <- args[9]
suppressPackageStartupMessages(library(rpact))
design <- getDesignGroupSequential(kMax = 1, alpha = alpha, sided = 1)
analytic <- getPowerSurvival(design = design, lambda2 = log(2) / median_control,
  hazardRatio = hr, directionUpper = FALSE, maxNumberOfEvents = events,
  maxNumberOfSubjects = n, accrualTime = c(0, accrual), dropoutRate1 = dropout,
  dropoutRate2 = dropout, dropoutTime = 12)
simulated <- getSimulationSurvival(design = design, lambda2 = log(2) / median_control,
  hazardRatio = hr, directionUpper = FALSE, plannedEvents = events, maxNumberOfSubjects = n,
  accrualTime = c(0, accrual), dropoutRate1 = dropout, dropoutRate2 = dropout, dropoutTime = 12,
  maxNumberOfIterations = iterations, seed = seed)
cat(sprintf("analytic %.17g %.17g\nsimulated %.17g %.17g\n", analytic$overallReject[1],
            analytic$analysisTime[1], simulated$overallReject[1], simulated$analysisTime[1]))

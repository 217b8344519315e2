# Reads a vpgen results database with RSQLite and R's survival package, straight from the adtte
# view, and prints one line per arm and endpoint: "PARAMCD<TAB>TRT01P<TAB>median" (NA when not
# reached); then the OS medians again from survival_counts with frequency weights (PARAMCD
# "OS_COUNTS"), the compact form docs/SCHEMA.md shows. Usage: Rscript adtte_medians.R FILE.db RUNID
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({
  library(DBI)
  library(RSQLite)
  library(survival)
})
con <- dbConnect(RSQLite::SQLite(), args[1], flags = RSQLite::SQLITE_RO)
adtte <- dbGetQuery(con, sprintf("SELECT * FROM adtte WHERE RUNID = %s", args[2]))
counts <- dbGetQuery(con, sprintf(paste(
  "SELECT a.name AS TRT01P, c.time_months, c.events, c.censored FROM survival_counts AS c",
  "JOIN arms AS a USING (run_id, arm_index) WHERE c.run_id = %s AND c.endpoint = 'OS'"), args[2]))
dbDisconnect(con)
for (param in c("OS", "PFS")) {
  d <- adtte[adtte$PARAMCD == param, ]
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01P, data = d)
  medians <- summary(fit)$table[, "median"]
  arms <- sub("^TRT01P=", "", names(medians))
  for (i in seq_along(arms))
    cat(param, "\t", arms[i], "\t", format(medians[i], digits = 17), "\n", sep = "")
}
counts <- rbind(transform(counts, event = 1, w = events), transform(counts, event = 0, w = censored))
fit <- survfit(Surv(time_months, event) ~ TRT01P, data = counts[counts$w > 0, ], weights = w)
medians <- summary(fit)$table[, "median"]
arms <- sub("^TRT01P=", "", names(medians))
for (i in seq_along(arms))
  cat("OS_COUNTS", "\t", arms[i], "\t", format(medians[i], digits = 17), "\n", sep = "")

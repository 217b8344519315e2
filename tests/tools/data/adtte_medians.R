# Reads a vpgen results database with RSQLite and R's survival package, straight from the adtte
# view, and prints one line per arm and endpoint: "PARAMCD<TAB>TRT01P<TAB>median" (NA when not
# reached). Usage: Rscript adtte_medians.R FILE.db RUNID
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({
  library(DBI)
  library(RSQLite)
  library(survival)
})
con <- dbConnect(RSQLite::SQLite(), args[1], flags = RSQLite::SQLITE_RO)
adtte <- dbGetQuery(con, sprintf("SELECT * FROM adtte WHERE RUNID = %s", args[2]))
dbDisconnect(con)
for (param in c("OS", "PFS")) {
  d <- adtte[adtte$PARAMCD == param, ]
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01P, data = d)
  medians <- summary(fit)$table[, "median"]
  arms <- sub("^TRT01P=", "", names(medians))
  for (i in seq_along(arms))
    cat(param, "\t", arms[i], "\t", format(medians[i], digits = 17), "\n", sep = "")
}

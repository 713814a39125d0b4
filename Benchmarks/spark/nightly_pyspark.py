#!/usr/bin/env python3
"""The reference nightly workload written by hand in PySpark (DataFrame API), run through the same Spark Connect server
crmflow --engine spark uses. Same steps and outputs as Benchmarks/nightly/nightly.sql (DuckDB); written as PySpark's
documentation writes jobs: spark.read.csv with an explicit all-text schema, column functions, one write per report.

Usage: nightly_pyspark.py sc://HOST:PORT DATA_DIR OUT_DIR [SHUFFLE_PARTITIONS]
The reports are written by Spark as one CSV part file each (coalesce(1)) and renamed into OUT_DIR."""
import glob, os, shutil, sys
from pyspark.sql import SparkSession, Window, functions as F

url, data, out = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
spark = SparkSession.builder.remote(url).getOrCreate()
spark.conf.set("spark.sql.session.timeZone", "UTC")
spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
spark.conf.set("spark.sql.ansi.enabled", "false")
if len(sys.argv) > 4:
    spark.conf.set("spark.sql.shuffle.partitions", sys.argv[4])

def text_csv(name):
    return spark.read.option("header", True).option("multiLine", True).option("escape", '"').csv(f"{data}/{name}")

def parse_date(c):
    c = F.trim(c)
    return F.coalesce(F.to_date(c, "yyyy-M-d"), F.to_date(c, "M/d/yyyy"), F.to_date(c, "d.M.yyyy"),
                      F.to_date(c, "MMM d, yyyy"), F.to_date(c, "yyyy-M-d'T'H:mm:ss'Z'"))

contacts = (text_csv("contacts.csv")
            .select("contact_id", F.lower(F.trim("email")).alias("email"),
                    F.regexp_replace("phone", "[^0-9+]", "").alias("phone"),
                    F.lower(F.trim("country")).alias("country_key"), parse_date(F.col("created")).alias("created")))
latest = Window.partitionBy("email").orderBy(F.col("created").desc_nulls_last(), "contact_id")
unique = contacts.withColumn("rn", F.row_number().over(latest)).where("rn = 1").drop("rn").cache()
countries = text_csv("countries.csv")
by_country = (unique.join(countries, "country_key", "left")
              .groupBy(F.coalesce("iso2", F.lit("unknown")).alias("iso2"))
              .agg(F.count("*").alias("customers"), F.count(F.when(F.length("phone") >= 10, 1)).alias("with_phone"))
              .orderBy("iso2"))

amount = F.col("amount")
currency = (F.when(amount.startswith("$") | amount.startswith("USD "), "USD")
            .when(amount.endswith("€") | amount.startswith("EUR "), "EUR").when(amount.startswith("£"), "GBP"))
value = (F.when(amount.endswith("€"), F.regexp_replace(F.regexp_replace(F.regexp_replace(amount, " €", ""), r"\.", ""), ",", "."))
         .otherwise(F.regexp_replace(F.regexp_replace(amount, r"^(\$|USD |EUR |£)", ""), ",", ""))).cast("double")
deals = text_csv("deals.csv").select("owner", F.lower(F.trim("contact_email")).alias("email"), F.lower(F.trim("stage")).alias("stage_key"),
                                     currency.alias("currency"), value.alias("amount"), parse_date(F.col("close_date")).alias("close_date"))
stages = text_csv("stages.csv")
rates = text_csv("rates.csv").withColumn("usd_per_unit", F.col("usd_per_unit").cast("double"))
final = (deals.join(unique.select("email"), "email").join(stages, "stage_key").join(rates, "currency")
         .select("owner", "stage_name", F.col("stage_order").cast("int").alias("stage_order"),
                 F.round(F.col("amount") * F.col("usd_per_unit") * 100).cast("long").alias("cents"),
                 F.trunc("close_date", "month").alias("month"))).cache()
revenue = (final.where("stage_name = 'Closed Won'").groupBy("owner", "month")
           .agg(F.count("*").alias("won_deals"), (F.sum("cents").cast("decimal(38,0)") / 100).cast("decimal(18,2)").alias("revenue_usd"))
           .orderBy("owner", "month"))
total = final.count()
stage_counts = (final.groupBy("stage_order", "stage_name").agg(F.count("*").alias("deals"))
                .withColumn("share", F.round(F.col("deals") / F.lit(total), 4)).orderBy("stage_order").select("stage_name", "deals", "share"))

os.makedirs(out, exist_ok=True)
for name, df in [("customers_by_country", by_country), ("revenue_by_owner_month", revenue), ("stage_counts", stage_counts)]:
    folder = f"{out}/.{name}"
    df.coalesce(1).write.mode("overwrite").option("header", True).option("dateFormat", "yyyy-MM-dd").csv(folder)
    shutil.move(glob.glob(f"{folder}/part-*.csv")[0], f"{out}/{name}.csv")
    shutil.rmtree(folder)
spark.stop()
